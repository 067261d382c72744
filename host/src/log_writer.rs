//! Where log lines go: a buffer that request threads append to, written out
//! by one background thread in large batches, so a request never waits on
//! the terminal or the journal, nor wakes another thread, and nothing is lost.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the writer thread writes what has gathered: a line reaches the
/// output at most this late.
const WRITE_EVERY: Duration = Duration::from_millis(25);

/// Gathered bytes at which the writer thread is woken before its next turn.
const WRITE_SOON_BYTES: usize = 256 << 10;

/// Gathered bytes at which a logging thread waits for the writer: a slow
/// output slows the host down rather than losing a record or its memory.
const WAIT_AT_BYTES: usize = 8 << 20;

#[derive(Default)]
struct Gathered {
    bytes: Vec<u8>,
    closing: bool,
}

#[derive(Default)]
struct Shared {
    gathered: Mutex<Gathered>,
    /// Wakes the writer thread early (a large batch, or closing).
    write_now: Condvar,
    /// Wakes logging threads waiting for room.
    written: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Gathered> {
        // A thread that panicked while appending left whole lines or none.
        self.gathered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The logging side: a [`tracing_subscriber::fmt::MakeWriter`] whose
/// writers append to the shared buffer.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Writes what remains when dropped (at exit), and stops the writer thread.
pub struct FlushOnDrop {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Log lines to `output`, written by a thread named `thread_name`.
pub fn batched<W: Write + Send + 'static>(
    output: W,
    thread_name: &str,
) -> std::io::Result<(BatchedWriter, FlushOnDrop)> {
    let shared = Arc::new(Shared::default());
    let thread = std::thread::Builder::new()
        .name(thread_name.to_string())
        .spawn({
            let shared = shared.clone();
            move || write_batches(&shared, output)
        })?;
    Ok((
        BatchedWriter {
            shared: shared.clone(),
        },
        FlushOnDrop {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_batches(shared: &Shared, mut output: impl Write) {
    let mut batch = Vec::new();
    loop {
        let closing = {
            let mut gathered = shared.lock();
            if gathered.bytes.len() < WRITE_SOON_BYTES && !gathered.closing {
                gathered = shared
                    .write_now
                    .wait_timeout(gathered, WRITE_EVERY)
                    .map(|(guard, _)| guard)
                    .unwrap_or_else(|poisoned| poisoned.into_inner().0);
            }
            std::mem::swap(&mut gathered.bytes, &mut batch);
            gathered.closing
        };
        shared.written.notify_all();
        if !batch.is_empty() {
            // An output that fails (a closed pipe) loses its lines, never
            // the host: there is nowhere else to say so.
            let _ = output.write_all(&batch).and_then(|()| output.flush());
            batch.clear();
        }
        if closing && shared.lock().bytes.is_empty() {
            return;
        }
    }
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.write_now.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's writer: appends to the shared buffer. The bytes of one
/// `write` stay together; the fmt layer writes each event with one call.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut gathered = self.shared.lock();
        while gathered.bytes.len() >= WAIT_AT_BYTES && !gathered.closing {
            self.shared.write_now.notify_one();
            gathered = self
                .shared
                .written
                .wait(gathered)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let was_below = gathered.bytes.len() < WRITE_SOON_BYTES;
        gathered.bytes.extend_from_slice(bytes);
        if was_below && gathered.bytes.len() >= WRITE_SOON_BYTES {
            self.shared.write_now.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read while the writer thread holds it; a slow
    /// one takes 50 ms per write.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<Vec<u8>>>, bool);

    impl Write for Collected {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.1 {
                std::thread::sleep(Duration::from_millis(50));
            }
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn assert_every_line_arrives(output: Collected) {
        let (writer, flush) = batched(output.clone(), "test-log").unwrap();
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    use tracing_subscriber::fmt::MakeWriter;
                    for line in 0..50_000 {
                        // One write per line, as the fmt layer writes an
                        // event; 22 MB in all.
                        let text = format!("{thread} {line} {}\n", "x".repeat(100));
                        writer.make_writer().write_all(text.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flush);
        let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
        let mut next = [0u32; 4];
        for line in text.lines() {
            let mut fields = line.split(' ');
            let thread: usize = fields.next().unwrap().parse().unwrap();
            let number: u32 = fields.next().unwrap().parse().unwrap();
            assert_eq!(number, next[thread], "thread {thread}'s lines in order");
            assert_eq!(fields.next().unwrap().len(), 100);
            next[thread] += 1;
        }
        assert_eq!(next, [50_000; 4], "no line lost");
    }

    #[test]
    fn every_line_from_every_thread_arrives_whole_and_in_each_threads_order() {
        assert_every_line_arrives(Collected::default());
    }

    #[test]
    fn a_slow_output_makes_loggers_wait_and_loses_nothing() {
        // The buffer fills past its waiting size while the output sleeps.
        assert_every_line_arrives(Collected(Arc::default(), true));
    }

    #[test]
    fn a_line_is_written_within_its_turn_without_a_flush() {
        let output = Collected::default();
        let (writer, _flush) = batched(output.clone(), "test-log").unwrap();
        use tracing_subscriber::fmt::MakeWriter;
        writeln!(writer.make_writer(), "one line").unwrap();
        let waited = std::time::Instant::now();
        while output.0.lock().unwrap().is_empty() {
            assert!(waited.elapsed() < Duration::from_secs(5), "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(&*output.0.lock().unwrap(), b"one line\n");
    }
}
