// Logging into the host's logs, labelled by the host with the app id and the
// request id. (`console.log` also works; it lands in the same logs.)

import { log } from 'citadel:miniapp/log@1.5.0';

export function debug(message: string): void {
  log('debug', message);
}

export function info(message: string): void {
  log('info', message);
}

export function warn(message: string): void {
  log('warn', message);
}

export function error(message: string): void {
  log('error', message);
}
