//! The DATA phase: finds the end of data (`CRLF . CRLF`), removes dot-stuffing
//! (RFC 5321 4.5.2) and enforces the size limit, over input that arrives in any chunks.
//!
//! Only `CRLF . CRLF` ends the data. A bare LF before or after the dot does not, so a
//! client cannot smuggle a second message past a relay that reads the end differently.

/// Where the receiver stands in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (after CRLF, or at the start of the data).
    LineStart,
    /// Inside a line.
    Mid,
    /// Just after a CR inside a line or at its end.
    Cr,
    /// A line started with '.', which is dropped.
    Dot,
    /// A line started with ".\r".
    DotCr,
}

/// What one call to [`DataReceiver::feed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of the input used; the rest (pipelined commands) belongs to the session.
    pub consumed: usize,
    /// The end of data was reached.
    pub done: bool,
}

#[derive(Debug)]
pub struct DataReceiver {
    state: State,
    max_size: usize,
    message: Vec<u8>,
    /// Total bytes of content seen, also past the limit.
    seen: usize,
}

impl DataReceiver {
    pub fn new(max_size: usize) -> Self {
        DataReceiver { state: State::LineStart, max_size, message: Vec::new(), seen: 0 }
    }

    /// True once the content grew past the limit: the rest is read and dropped, and the
    /// transaction ends with 552 5.3.4.
    pub fn too_large(&self) -> bool {
        self.seen > self.max_size
    }

    /// The content received so far (complete once `feed` said done).
    pub fn into_message(self) -> Vec<u8> {
        self.message
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.seen += bytes.len();
        if self.seen <= self.max_size {
            self.message.extend_from_slice(bytes);
        }
    }

    pub fn feed(&mut self, input: &[u8]) -> Fed {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Mid => {
                    // Fast path: copy up to the next CR in one go.
                    match input[i..].iter().position(|&b| b == b'\r') {
                        Some(pos) => {
                            self.emit(&input[i..=i + pos]);
                            i += pos + 1;
                            self.state = State::Cr;
                        }
                        None => {
                            self.emit(&input[i..]);
                            i = input.len();
                        }
                    }
                }
                State::LineStart => {
                    let b = input[i];
                    i += 1;
                    if b == b'.' {
                        self.state = State::Dot;
                    } else {
                        self.emit(&[b]);
                        self.state = if b == b'\r' { State::Cr } else { State::Mid };
                    }
                }
                State::Cr => {
                    let b = input[i];
                    i += 1;
                    self.emit(&[b]);
                    self.state = match b {
                        b'\n' => State::LineStart,
                        b'\r' => State::Cr,
                        _ => State::Mid,
                    };
                }
                State::Dot => {
                    let b = input[i];
                    i += 1;
                    if b == b'\r' {
                        self.state = State::DotCr;
                    } else {
                        self.emit(&[b]);
                        self.state = State::Mid;
                    }
                }
                State::DotCr => {
                    let b = input[i];
                    i += 1;
                    if b == b'\n' {
                        return Fed { consumed: i, done: true };
                    }
                    // "." CR <other>: the dot was stuffing; keep the CR and go on.
                    self.emit(b"\r");
                    self.emit(&[b]);
                    self.state = match b {
                        b'\r' => State::Cr,
                        _ => State::Mid,
                    };
                }
            }
        }
        Fed { consumed: input.len(), done: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_chunks(chunks: &[&[u8]], max: usize) -> (Vec<u8>, bool, usize) {
        let mut r = DataReceiver::new(max);
        for (n, chunk) in chunks.iter().enumerate() {
            let fed = r.feed(chunk);
            if fed.done {
                let too_large = r.too_large();
                return (r.into_message(), too_large, n * 1000 + fed.consumed);
            }
        }
        panic!("no end of data");
    }

    #[test]
    fn ends_at_crlf_dot_crlf_and_keeps_the_final_crlf() {
        let (m, big, used) = run_chunks(&[b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n"], 1000);
        assert_eq!(m, b"Subject: x\r\n\r\nbody\r\n");
        assert!(!big);
        assert_eq!(used, 23);
    }

    #[test]
    fn empty_message() {
        let (m, _, used) = run_chunks(&[b".\r\n"], 1000);
        assert!(m.is_empty());
        assert_eq!(used, 3);
    }

    #[test]
    fn unstuffs_dots() {
        let (m, _, _) = run_chunks(&[b"..hidden\r\n...\r\n.x\r\n.\r\n"], 1000);
        assert_eq!(m, b".hidden\r\n..\r\nx\r\n");
    }

    #[test]
    fn bare_lf_never_ends_data() {
        let (m, _, _) = run_chunks(&[b"a\n.\nb\r\n.\nc\n.\r\nd\r\n.\r\n"], 1000);
        assert_eq!(m, b"a\n.\nb\r\n\nc\n.\r\nd\r\n");
    }

    #[test]
    fn any_split_gives_the_same_result() {
        let input: &[u8] = b"From: a\r\n\r\n..dot\r\nline\r\r\n.\rx\r\nend\r\n.\r\nNEXT";
        let whole = run_chunks(&[input], 1000);
        for split in 1..input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(run_chunks(&[a, b], 1000).0, whole.0, "split at {split}");
        }
        let bytewise: Vec<&[u8]> = input.chunks(1).collect();
        let mut r = DataReceiver::new(1000);
        let mut done_at = None;
        for (n, c) in bytewise.iter().enumerate() {
            if r.feed(c).done {
                done_at = Some(n);
                break;
            }
        }
        assert_eq!(done_at, Some(input.len() - 5));
        assert_eq!(r.into_message(), whole.0);
    }

    #[test]
    fn over_the_limit_is_read_to_the_end_and_flagged() {
        let mut body = vec![b'x'; 5000];
        body.extend_from_slice(b"\r\n.\r\n");
        let (m, big, _) = run_chunks(&[&body], 1000);
        assert!(big);
        assert!(m.len() <= 1000);
    }
}
