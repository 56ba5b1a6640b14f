//! Follows the frame boundaries of what an HTTP/2 client sends, to tell when
//! a header block is open (from a HEADERS frame until the frame carrying
//! END_HEADERS has fully arrived) and when the client acknowledges a PING. hyper only sees a stream once its header
//! block is complete, so a block that never completes is invisible to it;
//! this is what lets the connection watchdog apply `header_read` to it.
//! Frame payloads are skipped, not parsed; h2 itself validates everything.

/// The client connection preface (RFC 9113 section 3.4).
pub(super) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const FRAME_HEADER: usize = 9;
const HEADERS: u8 = 0x1;
const PUSH_PROMISE: u8 = 0x5;
const CONTINUATION: u8 = 0x9;
const PING: u8 = 0x6;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

/// What the tracker reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Block {
    /// A header block opened.
    Started,
    /// The open header block ended.
    Ended,
    /// The client answered a PING: it is alive and reading.
    PingAck,
}

#[derive(Debug)]
pub(super) struct FrameTracker {
    /// Preface bytes still to skip.
    preface_left: usize,
    header: [u8; FRAME_HEADER],
    header_len: usize,
    /// Payload bytes of the current frame still to skip.
    payload_left: usize,
    in_block: bool,
    /// The current frame carries END_HEADERS: the block ends with its payload.
    ends_block: bool,
}

impl Default for FrameTracker {
    fn default() -> Self {
        Self {
            preface_left: PREFACE.len(),
            header: [0; FRAME_HEADER],
            header_len: 0,
            payload_left: 0,
            in_block: false,
            ends_block: false,
        }
    }
}

impl FrameTracker {
    /// Consumes bytes as read from the client; calls `on` at each change.
    /// Costs one step per frame header, whatever the payload sizes.
    pub fn feed(&mut self, mut bytes: &[u8], mut on: impl FnMut(Block)) {
        while !bytes.is_empty() {
            let taken = if self.preface_left > 0 {
                let n = self.preface_left.min(bytes.len());
                self.preface_left -= n;
                n
            } else if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                if self.payload_left == 0 {
                    self.frame_done(&mut on);
                }
                n
            } else {
                let n = (FRAME_HEADER - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
                self.header_len += n;
                if self.header_len == FRAME_HEADER {
                    self.header_len = 0;
                    self.frame_started(&mut on);
                }
                n
            };
            bytes = &bytes[taken..];
        }
    }

    fn frame_started(&mut self, on: &mut impl FnMut(Block)) {
        let [l0, l1, l2, kind, flags, ..] = self.header;
        self.payload_left = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
        self.ends_block = false;
        match kind {
            HEADERS | PUSH_PROMISE | CONTINUATION => {
                if !self.in_block {
                    self.in_block = true;
                    on(Block::Started);
                }
                self.ends_block = flags & END_HEADERS != 0;
            }
            PING if flags & ACK != 0 => on(Block::PingAck),
            _ => {}
        }
        if self.payload_left == 0 {
            self.frame_done(on);
        }
    }

    fn frame_done(&mut self, on: &mut impl FnMut(Block)) {
        if self.in_block && self.ends_block {
            self.in_block = false;
            self.ends_block = false;
            on(Block::Ended);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload_len: usize) -> Vec<u8> {
        let len = u32::try_from(payload_len).expect("len").to_be_bytes();
        let mut out = vec![len[1], len[2], len[3], kind, flags, 0, 0, 0, 1];
        out.resize(FRAME_HEADER + payload_len, 0xAA);
        out
    }

    /// Feeds `bytes` in pieces of `step` and collects the events.
    fn events(bytes: &[u8], step: usize) -> Vec<Block> {
        let mut tracker = FrameTracker::default();
        let mut seen = Vec::new();
        for piece in bytes.chunks(step) {
            tracker.feed(piece, |b| seen.push(b));
        }
        seen
    }

    fn stream(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = PREFACE.to_vec();
        frames.iter().for_each(|f| out.extend_from_slice(f));
        out
    }

    #[test]
    fn a_complete_headers_frame_opens_and_closes_a_block() {
        let bytes = stream(&[frame(0x4, 0, 0), frame(HEADERS, END_HEADERS, 30), frame(0x0, 0x1, 100)]);
        for step in [1, 2, 7, 9, 1000] {
            assert_eq!(events(&bytes, step), [Block::Started, Block::Ended], "step {step}");
        }
    }

    #[test]
    fn headers_without_end_headers_stays_open_until_the_last_continuation() {
        let open = stream(&[frame(HEADERS, 0, 10), frame(CONTINUATION, 0, 10)]);
        assert_eq!(events(&open, 3), [Block::Started]);
        let closed = stream(&[frame(HEADERS, 0, 10), frame(CONTINUATION, 0, 10), frame(CONTINUATION, END_HEADERS, 0)]);
        assert_eq!(events(&closed, 3), [Block::Started, Block::Ended]);
    }

    #[test]
    fn a_headers_frame_whose_payload_is_still_arriving_is_open() {
        let mut bytes = stream(&[frame(HEADERS, END_HEADERS, 50)]);
        bytes.truncate(bytes.len() - 1);
        assert_eq!(events(&bytes, 4), [Block::Started]);
    }

    #[test]
    fn other_frames_never_open_a_block() {
        let bytes = stream(&[frame(0x4, 0, 6), frame(PING, 0, 8), frame(0x8, 0, 4), frame(0x0, END_HEADERS, 20)]);
        assert!(events(&bytes, 5).is_empty());
    }

    #[test]
    fn a_ping_ack_is_reported_and_a_ping_is_not() {
        let bytes = stream(&[frame(PING, 0, 8), frame(PING, ACK, 8), frame(0x4, ACK, 0)]);
        assert_eq!(events(&bytes, 3), [Block::PingAck]);
    }

    #[test]
    fn the_preface_alone_is_not_a_frame() {
        assert!(events(PREFACE, 1).is_empty());
        // PREFACE then HEADERS: the preface's bytes are never read as frames.
        let bytes = stream(&[frame(HEADERS, 0, 0)]);
        assert_eq!(events(&bytes, 24), [Block::Started]);
    }
}
