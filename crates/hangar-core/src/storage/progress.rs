//! Parser for the `-p` progress output of `qemu-img convert`: records like `    (12.34/100%)`
//! separated by `\r` (and a final `\n`), arriving in arbitrary chunks.

/// Incremental parser; feed it stdout bytes as they arrive.
#[derive(Debug, Default)]
pub(crate) struct ProgressParser {
    pending: Vec<u8>,
    last: Option<f64>,
}

impl ProgressParser {
    /// Feed a chunk; calls `report` for every new percentage that is higher than the last one.
    pub(crate) fn feed(&mut self, chunk: &[u8], report: &mut impl FnMut(f64)) {
        for &byte in chunk {
            if byte == b'\r' || byte == b'\n' {
                let record = std::mem::take(&mut self.pending);
                self.record(&record, report);
            } else if self.pending.len() < 256 {
                self.pending.push(byte);
            }
        }
    }

    /// Flush a trailing record without terminator.
    pub(crate) fn finish(&mut self, report: &mut impl FnMut(f64)) {
        let record = std::mem::take(&mut self.pending);
        self.record(&record, report);
    }

    /// Report 100 % unless it was already reported (qemu-img prints no record for tiny images).
    pub(crate) fn complete(&mut self, report: &mut impl FnMut(f64)) {
        self.emit(100.0, report);
    }

    fn record(&mut self, record: &[u8], report: &mut impl FnMut(f64)) {
        if let Some(value) = parse_record(record) {
            self.emit(value, report);
        }
    }

    fn emit(&mut self, value: f64, report: &mut impl FnMut(f64)) {
        if self.last.is_none_or(|last| value > last) {
            self.last = Some(value);
            report(value);
        }
    }
}

/// `"    (12.34/100%)"` → `Some(12.34)`; anything else → `None`.
fn parse_record(record: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(record).ok()?.trim();
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    let (done, total) = inner.split_once('/')?;
    if total.trim() != "100%" {
        return None;
    }
    let value: f64 = done.trim().parse().ok()?;
    value.is_finite().then(|| value.clamp(0.0, 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]], finish: bool) -> Vec<f64> {
        let mut parser = ProgressParser::default();
        let mut seen = Vec::new();
        let mut report = |v| seen.push(v);
        for chunk in chunks {
            parser.feed(chunk, &mut report);
        }
        if finish {
            parser.finish(&mut report);
        }
        seen
    }

    #[test]
    fn parses_records_split_across_chunks() {
        let seen = run(
            &[
                b"    (0.00/100%)\r    (6.2",
                b"5/100%)\r    (12.50/100%)\r",
                b"    (100.00/100%)\n",
            ],
            false,
        );
        assert_eq!(seen, vec![0.0, 6.25, 12.5, 100.0]);
    }

    #[test]
    fn drops_repeats_regressions_and_noise() {
        let noisy: &[u8] = b"    (1.00/100%)\r    (1.00/100%)\r    (0.50/100%)\rgarbage\r(5/50%)\r\
            (nan/100%)\r    (100.00/100%)\r    (100.00/100%)\r\n";
        let seen = run(&[noisy], false);
        assert_eq!(seen, vec![1.0, 100.0]);
    }

    #[test]
    fn trailing_record_and_completion() {
        assert_eq!(run(&[b"    (42.00/100%)"], true), vec![42.0]);
        assert_eq!(run(&[b"    (42.00/100%)"], false), Vec::<f64>::new());
        let mut parser = ProgressParser::default();
        let mut seen = Vec::new();
        parser.feed(b"(50.00/100%)\r", &mut |v| seen.push(v));
        parser.complete(&mut |v| seen.push(v));
        parser.complete(&mut |v| seen.push(v));
        assert_eq!(seen, vec![50.0, 100.0]);
    }
}
