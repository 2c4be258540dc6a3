use super::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Manifests redis-server 7.0.15 wrote (see `testdata/generate.sh` for how each was made).
const START: &str = include_str!("../testdata/start.manifest");
const REWRITE_GC: &str = include_str!("../testdata/rewrite_gc.manifest");
const REWRITE_TWICE_NO_GC: &str = include_str!("../testdata/rewrite_twice_no_gc.manifest");
const NO_PREAMBLE: &str = include_str!("../testdata/no_preamble.manifest");
const ODD_NAME: &str = include_str!("../testdata/odd_name.manifest");

const BASENAME: &str = "appendonly.aof";

fn info(name: &str, seq: u64, file_type: AofFileType) -> AofInfo {
    AofInfo { name: name.to_string(), seq, file_type }
}

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text.as_bytes())
}

/// The error Redis logs for a manifest: kind, line number, offending line.
type Refusal = (ManifestErrorKind, usize, Option<String>);

fn error_of(text: &[u8]) -> Refusal {
    let e = Manifest::parse(text).expect_err("the manifest should be refused");
    (e.kind, e.line_number, e.line)
}

#[test]
fn reads_the_manifests_redis_writes_and_prints_them_back_byte_for_byte() {
    for text in [START, REWRITE_GC, REWRITE_TWICE_NO_GC, NO_PREAMBLE, ODD_NAME] {
        let manifest = parse(text).unwrap();
        assert_eq!(manifest.to_text(), text);
    }

    let m = parse(REWRITE_TWICE_NO_GC).unwrap();
    assert_eq!(m.base, Some(info("appendonly.aof.3.base.rdb", 3, AofFileType::Base)));
    assert_eq!(
        m.history,
        [
            info("appendonly.aof.2.incr.aof", 2, AofFileType::History),
            info("appendonly.aof.2.base.rdb", 2, AofFileType::History),
            info("appendonly.aof.1.incr.aof", 1, AofFileType::History),
            info("appendonly.aof.1.base.rdb", 1, AofFileType::History),
        ]
    );
    assert_eq!(m.incrs, [info("appendonly.aof.3.incr.aof", 3, AofFileType::Incr)]);
    assert_eq!((m.curr_base_seq, m.curr_incr_seq), (3, 3));
    let to_load: Vec<_> = m.files_to_load().map(|i| i.name.as_str()).collect();
    assert_eq!(to_load, ["appendonly.aof.3.base.rdb", "appendonly.aof.3.incr.aof"]);
}

#[test]
fn odd_names_are_quoted_as_sdscatrepr_quotes_them() {
    // appendfilename 'my "odd" file<TAB>é.aof'
    let m = parse(ODD_NAME).unwrap();
    assert_eq!(m.base.as_ref().unwrap().name, "my \"odd\" file\té.aof.1.base.rdb");
    assert_eq!(m.incrs[0].name, "my \"odd\" file\té.aof.1.incr.aof");

    let mut ours = Manifest::default();
    ours.new_base("my \"odd\" file\té.aof", true);
    ours.new_incr("my \"odd\" file\té.aof");
    assert_eq!(ours.to_text(), ODD_NAME);
}

/// The rewrites that produced the fixtures, replayed on our side: the same manifests come out.
#[test]
fn rewrites_change_the_manifest_as_redis_does() {
    let rewrite = |m: &mut Manifest, rdb_preamble: bool| {
        m.new_incr(BASENAME); // when BGREWRITEAOF starts
        m.new_base(BASENAME, rdb_preamble); // when it succeeds
        m.mark_incrs_as_history();
    };

    // Start-up on an empty directory: a base, then an incr file.
    let mut m = Manifest::default();
    assert_eq!(m.new_base(BASENAME, true), "appendonly.aof.1.base.rdb");
    assert_eq!(m.last_or_new_incr(BASENAME), "appendonly.aof.1.incr.aof");
    assert_eq!(m.last_or_new_incr(BASENAME), "appendonly.aof.1.incr.aof");
    assert_eq!(m.to_text(), START);

    let mut gc = m.clone();
    rewrite(&mut gc, true);
    assert_eq!(
        gc.to_text(),
        "file appendonly.aof.2.base.rdb seq 2 type b\n\
         file appendonly.aof.1.incr.aof seq 1 type h\n\
         file appendonly.aof.1.base.rdb seq 1 type h\n\
         file appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    let deleted: Vec<_> = gc.take_history().into_iter().map(|i| i.name).collect();
    assert_eq!(deleted, ["appendonly.aof.1.incr.aof", "appendonly.aof.1.base.rdb"]);
    assert_eq!(gc.to_text(), REWRITE_GC);

    let mut no_gc = m.clone();
    rewrite(&mut no_gc, true);
    rewrite(&mut no_gc, true);
    assert_eq!(no_gc.to_text(), REWRITE_TWICE_NO_GC);
    assert_eq!(no_gc, parse(REWRITE_TWICE_NO_GC).unwrap());

    let mut plain = m.clone();
    rewrite(&mut plain, false);
    plain.take_history();
    assert_eq!(plain.to_text(), NO_PREAMBLE);
}

#[test]
fn incr_files_left_by_failed_rewrites_become_history_together() {
    let mut m = parse("file a.1.base.rdb seq 1 type b\nfile a.1.incr.aof seq 1 type i\n").unwrap();
    // Two rewrites failed after opening their incr files; the third succeeds.
    for _ in 0..3 {
        m.new_incr("a");
    }
    m.new_base("a", true);
    m.mark_incrs_as_history();
    assert_eq!(
        m.to_text(),
        "file a.2.base.rdb seq 2 type b\n\
         file a.1.incr.aof seq 1 type h\n\
         file a.2.incr.aof seq 2 type h\n\
         file a.3.incr.aof seq 3 type h\n\
         file a.1.base.rdb seq 1 type h\n\
         file a.4.incr.aof seq 4 type i\n"
    );

    // With the AOF off there is no incr file being written: all of them go.
    let mut off =
        parse("file a.1.base.rdb seq 1 type b\nfile a.1.incr.aof seq 1 type i\nfile a.2.incr.aof seq 2 type i\n")
            .unwrap();
    off.new_base("a", false);
    off.mark_all_incrs_as_history();
    assert!(off.incrs.is_empty());
    assert_eq!(
        off.to_text(),
        "file a.2.base.aof seq 2 type b\n\
         file a.1.incr.aof seq 1 type h\n\
         file a.2.incr.aof seq 2 type h\n\
         file a.1.base.rdb seq 1 type h\n"
    );
    // Nothing to move is fine both ways.
    off.mark_incrs_as_history();
    off.mark_all_incrs_as_history();
    assert_eq!(off.history.len(), 3);
    // New incr files continue the sequence, even with no incr file left.
    assert_eq!(off.new_incr("a"), "a.3.incr.aof");
}

#[test]
fn sequences_continue_from_what_was_read() {
    let mut m = parse("file x seq 7 type b\nfile y seq 3 type h\nfile z seq 12 type i\n").unwrap();
    assert_eq!((m.curr_base_seq, m.curr_incr_seq), (7, 12));
    assert_eq!(m.new_base("f", true), "f.8.base.rdb");
    assert_eq!(m.new_incr("f"), "f.13.incr.aof");
    assert_eq!(m.history[0], info("x", 7, AofFileType::History));
    // History sequence numbers count for nothing.
    let m = parse("file y seq 30 type h\n").unwrap();
    assert_eq!((m.curr_base_seq, m.curr_incr_seq), (0, 0));
}

/// Every refusal of `aofLoadManifestFromFile`, with the line it reports. Each case was run
/// against redis-server 7.0.15 (`--appendonly yes` on a directory holding the manifest) and
/// refused there with the same message and line.
#[test]
fn refuses_what_redis_refuses() {
    use ManifestErrorKind::*;
    let line = |s: &str| Some(s.to_string());
    let cases: Vec<(&[u8], Refusal)> = vec![
        (b"", (Empty, 0, None)),
        (b"\n", (InvalidFormat, 1, line(""))),
        (b"  \t\r\n", (InvalidFormat, 1, line(""))),
        (b"file a seq 1 type b\n\n", (InvalidFormat, 2, line(""))),
        (b"file a seq 1 type b\r\n\n", (InvalidFormat, 2, line(""))),
        // The last line must end with a newline: without one it is "too long".
        (b"file a seq 1 type b", (LineTooLong, 1, None)),
        (b"file a seq 1 type x\n", (UnknownType, 1, line("file a seq 1 type x"))),
        (b"file a seq 0 type b\n", (InvalidFormat, 1, line("file a seq 0 type b"))),
        (b"file a seq abc type h\n", (InvalidFormat, 1, line("file a seq abc type h"))),
        (b"file a seq 1\n", (InvalidFormat, 1, line("file a seq 1"))),
        (b"file a seq 1 type b extra\n", (InvalidFormat, 1, line("file a seq 1 type b extra"))),
        (b"file a seq 1 type \"\"\n", (InvalidFormat, 1, line("file a seq 1 type \"\""))),
        (b"seq 1 type b name a\n", (InvalidFormat, 1, line("seq 1 type b name a"))),
        (b"file \"a\"b seq 1 type b\n", (InvalidFormat, 1, line("file \"a\"b seq 1 type b"))),
        (b"file \"a seq 1 type b\n", (InvalidFormat, 1, line("file \"a seq 1 type b"))),
        (b"file dir/a seq 1 type b\n", (PathNotFileName, 1, line("file dir/a seq 1 type b"))),
        (b"file dir\\a seq 1 type b\n", (PathNotFileName, 1, line("file dir\\a seq 1 type b"))),
        // The path check comes as the pair is read, before the line is found incomplete.
        (b"file a/b seq 0 type b\n", (PathNotFileName, 1, line("file a/b seq 0 type b"))),
        (b"file a seq 1 type b\nfile b seq 2 type b\n", (DuplicateBase, 2, line("file b seq 2 type b"))),
        (b"file a seq 2 type i\nfile b seq 2 type i\n", (NonMonotonicSeq, 2, line("file b seq 2 type i"))),
        (b"file a seq 2 type i\nfile b seq 1 type i\n", (NonMonotonicSeq, 2, line("file b seq 1 type i"))),
        (b"file a seq -1 type i\n", (NonMonotonicSeq, 1, line("file a seq -1 type i"))),
        // Comment lines count.
        (b"file a seq 1 type h\n#c\nfile b seq 2 type x\n", (UnknownType, 3, line("file b seq 2 type x"))),
    ];
    for (text, expected) in cases {
        assert_eq!(error_of(text), expected, "{}", text.escape_ascii());
    }

    // Redis reads at most 1024 bytes a line: 1024 with the newline are fine…
    let longest = format!("file {} seq 1 type h\n", "x".repeat(1005));
    assert_eq!(longest.len(), 1024);
    assert_eq!(parse(&longest).unwrap().history[0].name.len(), 1005);
    // … a byte more is too long…
    let too_long = format!("file {} seq 1 type h\n", "x".repeat(1006));
    assert_eq!(error_of(too_long.as_bytes()), (LineTooLong, 1, None));
    // … and a longer comment goes on as the next line, which is then no comment.
    let long_comment = format!("#{}\nfile a seq 1 type h\n", "x".repeat(1500));
    assert_eq!(error_of(long_comment.as_bytes()), (InvalidFormat, 2, Some("x".repeat(477))));
    // A NUL ends what Redis sees of a line, newline and all.
    assert_eq!(error_of(b"file a seq 1 type h\0\n"), (LineTooLong, 1, None));
    assert_eq!(error_of(b"\0file a seq 1 type h\n"), (LineTooLong, 1, None));
}

/// What Redis accepts, including what it never writes itself.
#[test]
fn accepts_what_redis_accepts() {
    // Only comments: a manifest that lists nothing (Redis then starts as on an empty directory).
    assert_eq!(parse("# nothing\n").unwrap(), Manifest::default());
    assert_eq!(parse("# no newline").unwrap(), Manifest::default());
    assert_eq!(Manifest::parse(b"#\0\nfile a seq 1 type h\n").unwrap().history.len(), 1);

    // Keys in any case and order, a type by its first letter, unknown pairs, white space,
    // CRLF line ends, sequence numbers with trailing garbage, a repeated key (the last wins).
    let m = parse(
        "FILE a SEQ 1 TYPE base\r\n\
         \t seq 2abc type incr file 'b c' \t\r\n\
         file x file d seq 3 type i key value\n\
         seq 99999999999999999999 file e type history\n",
    )
    .unwrap();
    assert_eq!(m.base, Some(info("a", 1, AofFileType::Base)));
    assert_eq!(m.incrs, [info("b c", 2, AofFileType::Incr), info("d", 3, AofFileType::Incr)]);
    assert_eq!(m.history, [info("e", i64::MAX as u64, AofFileType::History)]);
    assert_eq!(m.curr_incr_seq, 3);

    // A quoted name is cut at an escaped NUL, as sdsnew cuts it; a quoted empty name is a name.
    let m = parse("file \"a\\x00b\" seq 1 type b\nfile \"\" seq 1 type h\n").unwrap();
    assert_eq!(m.base.unwrap().name, "a");
    assert_eq!(m.history[0].name, "");
}

/// A single quote needs no quoting for `sdsneedsrepr`, so Redis writes such a name bare, and
/// then reads it as an unterminated quoted argument: redis-server 7.0.15 started with
/// `appendfilename "it's.aof"` writes this manifest and refuses it at the next start. We print
/// and refuse the same.
#[test]
fn a_single_quote_in_the_name_is_written_bare_and_not_read_back() {
    let mut m = Manifest::default();
    m.new_base("it's.aof", true);
    m.new_incr("it's.aof");
    let text = m.to_text();
    assert_eq!(text, "file it's.aof.1.base.rdb seq 1 type b\nfile it's.aof.1.incr.aof seq 1 type i\n");
    assert_eq!(
        error_of(text.as_bytes()),
        (ManifestErrorKind::InvalidFormat, 1, Some("file it's.aof.1.base.rdb seq 1 type b".into()))
    );
}

#[test]
fn our_own_refusals() {
    use ManifestErrorKind::*;
    // Redis takes these (a negative sequence number on base and history lines, any bytes in a
    // name); our types cannot hold them.
    assert_eq!(error_of(b"file a seq -1 type h\n"), (NegativeSeq, 1, Some("file a seq -1 type h".into())));
    assert_eq!(error_of(b"file a seq -5 type b\n").0, NegativeSeq);
    assert_eq!(error_of(b"file \"\\xff\" seq 1 type b\n").0, NameNotUtf8);
    assert_eq!(error_of(b"file \xff seq 1 type i\n").0, NameNotUtf8);
    // Redis's own checks come first.
    assert_eq!(error_of(b"file a seq 1 type b\nfile \xff seq -1 type b\n").0, DuplicateBase);
}

#[test]
fn errors_read_like_redis_log_lines() {
    let e = Manifest::parse(b"file a seq 1 type b\nfile b seq 2 type b\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Found duplicate base file information (reading the manifest file, at line 2: 'file b seq 2 type b')"
    );
    assert_eq!(
        e.redis_log_lines(),
        [
            "\n*** FATAL AOF MANIFEST FILE ERROR ***\n",
            "Reading the manifest file, at line 2\n",
            ">>> 'file b seq 2 type b'\n",
            "Found duplicate base file information\n",
        ]
    );
    let e = Manifest::parse(b"").unwrap_err();
    assert_eq!(e.to_string(), "Found an empty AOF manifest");
    assert_eq!(e.redis_log_lines(), ["\n*** FATAL AOF MANIFEST FILE ERROR ***\n", "Found an empty AOF manifest\n"]);
}

#[test]
fn file_type_letters() {
    for t in [AofFileType::Base, AofFileType::History, AofFileType::Incr] {
        assert_eq!(AofFileType::from_char(t.as_char()), Some(t));
    }
    assert_eq!(AofFileType::from_char('x'), None);
}

/// A name of every kind: plain, with spaces, quotes, backslash escapes, control bytes, UTF-8.
fn random_name(rng: &mut SmallRng) -> String {
    const PIECES: [&str; 12] =
        ["appendonly", ".aof", " ", "\"", "\" '", "\t", "\r\n", "\x07\x08", "é", "日本", "\x7f", "-_"];
    let mut name = String::new();
    for _ in 0..rng.gen_range(1..8) {
        if rng.gen_bool(0.3) {
            // Any char but NUL, '/', '\' and a single quote: names with those do not come
            // back (see above).
            let c = loop {
                let c: char = if rng.gen_bool(0.8) { char::from(rng.gen_range(1u8..0x80)) } else { rng.gen() };
                if !matches!(c, '\0' | '/' | '\\' | '\'') {
                    break c;
                }
            };
            name.push(c);
        } else {
            name.push_str(PIECES[rng.gen_range(0..PIECES.len())]);
        }
    }
    name
}

fn random_manifest(rng: &mut SmallRng) -> Manifest {
    let mut m = Manifest::default();
    let big =
        |rng: &mut SmallRng| if rng.gen_bool(0.1) { rng.gen_range(1..=i64::MAX as u64) } else { rng.gen_range(1..100) };
    if rng.gen_bool(0.8) {
        let seq = big(rng);
        m.base = Some(AofInfo { name: random_name(rng), seq, file_type: AofFileType::Base });
        m.curr_base_seq = seq;
    }
    for _ in 0..rng.gen_range(0..4) {
        let seq = big(rng);
        m.history.push(AofInfo { name: random_name(rng), seq, file_type: AofFileType::History });
    }
    let mut seq = 0;
    for _ in 0..rng.gen_range(0..4) {
        seq += rng.gen_range(1..1000);
        m.incrs.push(AofInfo { name: random_name(rng), seq, file_type: AofFileType::Incr });
    }
    m.curr_incr_seq = seq;
    m
}

#[test]
fn random_manifests_round_trip() {
    let mut rng = SmallRng::seed_from_u64(0xa0f);
    for i in 0..2000 {
        let m = random_manifest(&mut rng);
        let text = m.to_text();
        if text.is_empty() {
            // Redis writes an empty manifest as an empty file, which it then refuses as empty.
            assert_eq!(error_of(b"").0, ManifestErrorKind::Empty);
            continue;
        }
        let back = Manifest::parse(text.as_bytes()).unwrap_or_else(|e| panic!("manifest {i}: {e}\n{text}"));
        assert_eq!(back, m, "manifest {i}:\n{text}");
        assert_eq!(back.to_text(), text);
    }
}

/// Random damage to real manifests never panics, and whatever is accepted prints back to a
/// manifest that reads the same, unless Redis could not read back what it printed either: no
/// line at all, an empty name, a bare name with a single quote, a line too long.
#[test]
fn damaged_manifests_never_panic() {
    let mut rng = SmallRng::seed_from_u64(17);
    let seeds: Vec<&[u8]> =
        vec![START.as_bytes(), REWRITE_TWICE_NO_GC.as_bytes(), ODD_NAME.as_bytes(), b"# c\nfile 'a b' seq 3 type i\n"];
    let alphabet = b"fileseqtypbhi 0123456789\"'\\x\t\r\n#/\0\xff";
    for _ in 0..20_000 {
        let mut text = seeds[rng.gen_range(0..seeds.len())].to_vec();
        for _ in 0..rng.gen_range(1..6) {
            let at = rng.gen_range(0..=text.len());
            match rng.gen_range(0..4) {
                0 if at < text.len() => text[at] = alphabet[rng.gen_range(0..alphabet.len())],
                1 if at < text.len() => {
                    text.remove(at);
                }
                2 => text.insert(at, alphabet[rng.gen_range(0..alphabet.len())]),
                _ => text.truncate(at),
            }
        }
        if let Ok(m) = Manifest::parse(&text) {
            let names_ok =
                |i: &AofInfo| !i.name.is_empty() && (sds::needs_repr(i.name.as_bytes()) || !i.name.contains('\''));
            let writable = m.base.iter().chain(&m.history).chain(&m.incrs).all(names_ok)
                && m.files_to_load().count() + m.history.len() > 0;
            let printed = m.to_text();
            if writable && printed.lines().all(|l| l.len() < MANIFEST_MAX_LINE) {
                assert_eq!(Manifest::parse(printed.as_bytes()).as_ref(), Ok(&m), "{}", text.escape_ascii());
            }
        }
    }
}
