//! Writing commands to an AOF: RESP arrays of bulk strings, as `catAppendOnlyGenericCommand`
//! writes them, and the timestamp annotations of `aof-timestamp-enabled`.

/// Appends `args` as one command: `*<argc>\r\n`, then `$<len>\r\n<arg>\r\n` for each argument.
/// The same bytes a client sends and a replica receives, so an AOF is a replayable stream.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.reserve(encoded_len(args));
    let mut number = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(number.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        out.extend_from_slice(number.format(arg.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// How many bytes [`encode_command`] appends for `args`.
pub fn encoded_len(args: &[&[u8]]) -> usize {
    let header = |n: usize| 1 + decimal_digits(n) + 2;
    header(args.len()) + args.iter().map(|arg| header(arg.len()) + arg.len() + 2).sum::<usize>()
}

fn decimal_digits(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// Appends the annotation `#TS:<unix seconds>\r\n` that Redis writes before the first command
/// of each second when `aof-timestamp-enabled` is `yes` (`genAofTimestampAnnotationIfNeeded`).
/// Loading skips annotations; `redis-check-aof --truncate-to-timestamp` reads them.
pub fn encode_timestamp_annotation(out: &mut Vec<u8>, unix_secs: i64) {
    out.extend_from_slice(b"#TS:");
    out.extend_from_slice(itoa::Buffer::new().format(unix_secs).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(args: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        assert_eq!(out.len(), encoded_len(args));
        out
    }

    #[test]
    fn commands_are_resp_arrays_of_bulk_strings() {
        // What redis-server 7.0 wrote to an incr file for these (see testdata/generate.sh).
        assert_eq!(encoded(&[b"SELECT", b"0"]), b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n");
        assert_eq!(
            encoded(&[b"SET", b"b", b"2", b"PXAT", b"1795963439643"]),
            b"*5\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n$4\r\nPXAT\r\n$13\r\n1795963439643\r\n"
        );
        assert_eq!(encoded(&[b"SET", b"", b"\r\n\x00"]), b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$3\r\n\r\n\x00\r\n");
        assert_eq!(encoded(&[]), b"*0\r\n");
        let long = vec![b'x'; 1234];
        assert_eq!(encoded(&[&long]), [&b"*1\r\n$1234\r\n"[..], &long, b"\r\n"].concat());
    }

    #[test]
    fn appends_to_what_is_there() {
        let mut out = b"*1\r\n$4\r\nPING\r\n".to_vec();
        encode_timestamp_annotation(&mut out, 1_795_963_339);
        encode_command(&mut out, &[b"PING"]);
        assert_eq!(out, b"*1\r\n$4\r\nPING\r\n#TS:1795963339\r\n*1\r\n$4\r\nPING\r\n");
    }

    #[test]
    fn digit_counts() {
        for n in [0, 9, 10, 99, 100, 12345, usize::MAX] {
            assert_eq!(decimal_digits(n), n.to_string().len(), "{n}");
        }
    }
}
