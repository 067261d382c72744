// The globals StarlingMonkey gives every component (and Node gives a test):
// text codecs and the console. Nothing else of the web platform is assumed.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
declare const console: {
  log(...data: unknown[]): void;
  error(...data: unknown[]): void;
};
