//! Batch mode's format: many whole messages in one write or one read, each
//! as a record — a 4-byte little-endian length, then that many bytes.
//!
//! Little-endian and unpadded so that a record can be written from any
//! language and even from a shell (`printf '\005\0\0\0hello'`).

use crate::error::{Error, Result};

/// Bytes of a record's length field.
pub const HEADER: usize = 4;

/// The bytes a record of `message` takes.
pub fn record_len(message: &[u8]) -> usize {
    HEADER + message.len()
}

/// Where in `data` the message of the record that starts at `at` lies,
/// by its length field; `None` when that field is not all in `data`
/// (the message itself may still run past its end).
pub fn message_at(data: &[u8], at: usize) -> Option<std::ops::Range<usize>> {
    let field = data.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(field.try_into().expect("4 bytes")) as usize;
    Some(at + HEADER..at + HEADER + len)
}

/// Appends `message` to `out` as one record.
pub fn append(out: &mut Vec<u8>, message: &[u8]) {
    let len = u32::try_from(message.len()).expect("a message is shorter than 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(message);
}

/// Splits a batch write into its messages, in order; their records span
/// all of it, or the whole records before one the write ends inside. Every record whose length field
/// is in the write is checked before anything is queued: a length of 0 is
/// `EINVAL`, one over `max_message` is `EMSGSIZE`. A write that ends inside
/// a record keeps the whole records before it (the writer gets their count,
/// as from a short write, and writes the rest again); ending inside the
/// first record is `EINVAL`.
pub fn parse(data: &[u8], max_message: usize) -> Result<Vec<&[u8]>> {
    let mut messages = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let Some(span) = message_at(data, at) else {
            break;
        };
        let len = span.len();
        if len == 0 {
            log::info!(
                "batch write refused: record {} has length 0",
                messages.len()
            );
            return Err(Error::InvalidArgument);
        }
        if len > max_message {
            log::info!(
                "batch write refused: record {} has {len} bytes, the largest message is {max_message}",
                messages.len()
            );
            return Err(Error::MessageTooLong);
        }
        let Some(message) = data.get(span.clone()) else {
            break;
        };
        messages.push(message);
        at = span.end;
    }
    if messages.is_empty() {
        log::info!(
            "batch write refused: its {} bytes end inside their first record",
            data.len()
        );
        return Err(Error::InvalidArgument);
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of the write that `messages`' records span.
    fn spanned(messages: &[&[u8]]) -> usize {
        messages.iter().map(|m| record_len(m)).sum()
    }

    fn records(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            append(&mut out, m);
        }
        out
    }

    #[test]
    fn records_round_trip() {
        let data = records(&[b"hello", b"x", &[7; 300]]);
        assert_eq!(&data[..9], b"\x05\0\0\0hello");
        let messages = parse(&data, 8192).unwrap();
        assert_eq!(messages, vec![&b"hello"[..], b"x", &[7; 300]]);
        assert_eq!(spanned(&messages), data.len());
        assert_eq!(record_len(b"hello"), 9);
    }

    #[test]
    fn a_write_ending_inside_a_record_keeps_the_whole_ones_before_it() {
        let data = records(&[b"one", b"two"]);
        for cut in [8, 9, 10, 13] {
            let messages = parse(&data[..cut], 8192).unwrap();
            assert_eq!(messages, vec![&b"one"[..]], "cut at {cut}");
            assert_eq!(spanned(&messages), 7);
        }
        for cut in [1, 3, 4, 6] {
            assert_eq!(parse(&data[..cut], 8192), Err(Error::InvalidArgument));
        }
    }

    #[test]
    fn bad_lengths_refuse_the_whole_write() {
        let mut data = records(&[b"ok"]);
        data.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(parse(&data, 8192), Err(Error::InvalidArgument));
        let mut data = records(&[b"ok"]);
        data.extend_from_slice(&8193u32.to_le_bytes());
        assert_eq!(parse(&data, 8192), Err(Error::MessageTooLong));
        assert_eq!(
            parse(&records(&[&[1; 9000]]), 8192),
            Err(Error::MessageTooLong)
        );
    }
}
