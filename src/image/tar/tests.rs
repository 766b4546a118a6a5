use super::read::{parse_number, parse_pax, parse_pax_time, Pax};
use super::write::pax_record;
use super::*;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

fn read_all(data: &[u8]) -> Result<Vec<(Entry, Vec<u8>)>, TarError> {
    let mut r = TarReader::new(data);
    let mut out = Vec::new();
    while let Some(e) = r.next_entry()? {
        let mut body = Vec::new();
        // Data errors come through `Read` as io errors wrapping ours.
        r.read_to_end(&mut body).map_err(|e| {
            *e.into_inner()
                .and_then(|b| b.downcast::<TarError>().ok())
                .expect("a TarError inside")
        })?;
        out.push((e, body));
    }
    Ok(out)
}

fn find<'a>(entries: &'a [(Entry, Vec<u8>)], path: &str) -> &'a (Entry, Vec<u8>) {
    entries
        .iter()
        .find(|(e, _)| normalize(&e.path) == path)
        .unwrap_or_else(|| panic!("no entry {path}"))
}

/// Runs GNU tar in `dir` with `args`, writing the archive to stdout.
fn gnu_tar(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["--sort=name", "-cf", "-"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn long_name() -> String {
    format!("{}/{}", "d".repeat(60), "f".repeat(90))
}

/// A tree with the kinds of members layers hold.
fn fixture_tree(root: &Path) {
    let long = root.join(long_name());
    std::fs::create_dir_all(long.parent().unwrap()).unwrap();
    std::fs::write(&long, b"long named").unwrap();
    std::fs::create_dir(root.join("dir")).unwrap();
    std::fs::write(root.join("dir/file"), b"hello\n").unwrap();
    std::fs::write(root.join("dir/empty"), b"").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(root.join("dir/big"), &big).unwrap();
    std::fs::hard_link(root.join("dir/file"), root.join("dir/hard")).unwrap();
    symlink("../dir/file", root.join("dir/sym")).unwrap();
    symlink("t".repeat(150), root.join("longlink")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from(0o640),
        0,
    )
    .unwrap();
}

#[test]
fn writer_output_reads_back_and_gnu_tar_extracts_it() {
    let big: Vec<u8> = (0..700_001u32).map(|i| (i % 253) as u8).collect();
    let long = long_name();
    let long_target = "x".repeat(120);
    let mut w = TarWriter::new(Vec::new());
    w.append_dir("d", 0o755, 1_600_000_000).unwrap();
    w.append_file("d/small", 0o4755, 1_600_000_001, 5, &mut &b"hello"[..])
        .unwrap();
    w.append_file("d/block", 0o644, 7, 512, &mut &[9u8; 512][..])
        .unwrap();
    w.append_file("d/empty", 0o600, 7, 0, &mut io::empty())
        .unwrap();
    w.append_file("d/big", 0o644, 7, big.len() as u64, &mut &big[..])
        .unwrap();
    w.append_file(&long, 0o644, 7, 3, &mut &b"abc"[..]).unwrap();
    w.append_symlink("d/sym", &long_target, 8).unwrap();
    w.append_hardlink("d/hard", "d/small", 9).unwrap();
    let xattrs: &[(&str, &[u8])] = &[("user.bin", b"a\0b\nc=")];
    let mut fifo = NewEntry::new(b"d/fifo", EntryKind::Fifo, 0o600, 10);
    fifo.uid = 1000;
    fifo.gid = 3_000_000;
    fifo.xattrs = xattrs;
    w.append(&fifo, &mut io::empty()).unwrap();
    let tar = w.finish().unwrap();

    let entries = read_all(&tar).unwrap();
    assert_eq!(entries.len(), 9);
    assert_eq!(find(&entries, "d").0.kind, EntryKind::Directory);
    let (small, body) = find(&entries, "d/small");
    assert_eq!(
        (small.mode, small.mtime.secs, &body[..]),
        (0o4755, 1_600_000_001, &b"hello"[..])
    );
    assert_eq!(find(&entries, "d/block").1, vec![9u8; 512]);
    assert!(find(&entries, "d/empty").1.is_empty());
    assert_eq!(find(&entries, "d/big").1, big);
    assert_eq!(find(&entries, &long).1, b"abc");
    let (sym, _) = find(&entries, "d/sym");
    assert_eq!(
        (sym.kind, &sym.link[..]),
        (EntryKind::Symlink, long_target.as_bytes())
    );
    let (hard, _) = find(&entries, "d/hard");
    assert_eq!(
        (hard.kind, &hard.link[..]),
        (EntryKind::Hardlink, &b"d/small"[..])
    );
    let (f, _) = find(&entries, "d/fifo");
    assert_eq!((f.kind, f.uid, f.gid), (EntryKind::Fifo, 1000, 3_000_000));
    assert_eq!(
        f.xattrs,
        vec![("user.bin".to_string(), b"a\0b\nc=".to_vec())]
    );

    // Same bytes for the same calls: the writer is deterministic.
    let again = {
        let mut w = TarWriter::new(Vec::new());
        w.append_dir("d", 0o755, 1_600_000_000).unwrap();
        w.finish().unwrap()
    };
    assert_eq!(&again[..512], &tar[..512]);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.tar"), &tar).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let st = Command::new("tar")
        .args(["--no-same-owner", "-xf"])
        .arg(dir.path().join("a.tar"))
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(std::fs::read(out.join("d/big")).unwrap(), big);
    assert_eq!(std::fs::read(out.join(&long)).unwrap(), b"abc");
    assert_eq!(
        std::fs::read_link(out.join("d/sym")).unwrap(),
        Path::new(&long_target)
    );
    assert_eq!(std::fs::read(out.join("d/hard")).unwrap(), b"hello");
}

#[test]
fn gnu_format_archives_parse_with_long_names_links_and_base256() {
    let dir = tempfile::tempdir().unwrap();
    fixture_tree(dir.path());
    // uid 3000000 does not fit the octal field: GNU tar writes base-256.
    let tar = gnu_tar(
        dir.path(),
        &["--format=gnu", "--owner=x:3000000", "--mtime=@-86400", "."],
    );
    let entries = read_all(&tar).unwrap();
    let (e, body) = find(&entries, &long_name());
    assert_eq!(body, b"long named");
    assert_eq!(e.uid, 3_000_000);
    assert_eq!(e.mtime.secs, -86400);
    let (hard, _) = find(&entries, "dir/hard");
    assert_eq!(hard.kind, EntryKind::Hardlink);
    assert_eq!(normalize(&hard.link), "dir/file");
    assert_eq!(find(&entries, "dir/file").1, b"hello\n");
    let (sym, _) = find(&entries, "longlink");
    assert_eq!(sym.link, "t".repeat(150).into_bytes());
    assert_eq!(find(&entries, "dir/sym").0.link, b"../dir/file");
    assert_eq!(find(&entries, "fifo").0.kind, EntryKind::Fifo);
    assert_eq!(find(&entries, "fifo").0.mode, 0o640);
    assert_eq!(find(&entries, "dir/big").1.len(), 300_000);
}

#[test]
fn pax_and_ustar_archives_parse_with_xattrs_and_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    fixture_tree(dir.path());
    let value: &[u8] = b"bin\0ary\nvalue with = and 17 spaces";
    rustix::fs::setxattr(
        dir.path().join("dir/file"),
        "user.burrow.test",
        value,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    let tar = gnu_tar(dir.path(), &["--format=posix", "--xattrs", "."]);
    let entries = read_all(&tar).unwrap();
    let (file, body) = find(&entries, "dir/file");
    assert_eq!(body, b"hello\n");
    assert!(file
        .xattrs
        .iter()
        .any(|(n, v)| n == "user.burrow.test" && v == value));
    assert_eq!(find(&entries, &long_name()).1, b"long named");
    assert_eq!(
        find(&entries, "longlink").0.link,
        "t".repeat(150).into_bytes()
    );
    // POSIX tar stores sub-second times.
    let m = std::fs::metadata(dir.path().join("dir/big")).unwrap();
    use std::os::unix::fs::MetadataExt;
    let (e, _) = find(&entries, "dir/big");
    assert_eq!(
        (e.mtime.secs, e.mtime.nanos),
        (m.mtime(), m.mtime_nsec() as u32)
    );

    // ustar splits names up to 255 bytes into prefix and name.
    let tar = gnu_tar(dir.path(), &["--format=ustar", "dir", &long_name()]);
    let entries = read_all(&tar).unwrap();
    assert_eq!(find(&entries, &long_name()).1, b"long named");
}

#[test]
fn split_record_rebuilds_the_exact_stream() {
    let dir = tempfile::tempdir().unwrap();
    fixture_tree(dir.path());
    let mut tar = gnu_tar(dir.path(), &["--format=posix", "."]);
    tar.extend_from_slice(b"trailing junk after the record padding");

    let mut record = Vec::new();
    let mut payloads: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut clobbered_one = false;
    {
        let split = SplitWriter::new(&mut record).unwrap();
        let mut r = TarReader::with_split(BufReader::with_capacity(1000, &tar[..]), split);
        while let Some(e) = r.next_entry().unwrap() {
            if e.kind != EntryKind::Regular {
                continue;
            }
            let mut body = Vec::new();
            let index = r.copy_data(&e.path, &mut body).unwrap();
            if let (Some(index), false) = (index, clobbered_one) {
                // As if a later entry replaced this file: its payload
                // moves into the record.
                r.split_mut()
                    .unwrap()
                    .clobbered(index, body.len() as u64, &mut &body[..])
                    .unwrap();
                clobbered_one = true;
                continue;
            }
            payloads.insert(e.path.clone(), body);
        }
        assert_eq!(r.position(), tar.len() as u64);
        let (_, split) = r.into_parts();
        split.unwrap().finish(tar.len() as u64).unwrap();
    }
    assert!(clobbered_one);
    assert!(
        record.len() < tar.len() / 4,
        "the record holds no file payloads"
    );

    let mut rebuilt = Vec::new();
    let mut sr = SplitReader::new(&record[..]).unwrap();
    let mut saved: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut pending: Vec<(usize, u64)> = Vec::new();
    loop {
        match sr.next_record().unwrap() {
            SplitRecord::Raw(_) => {
                sr.copy_payload(&mut rebuilt).unwrap();
            }
            SplitRecord::File { index, path, size } => match payloads.get(&path) {
                Some(body) => {
                    assert_eq!(body.len() as u64, size);
                    rebuilt.extend_from_slice(body);
                }
                None => pending.push((rebuilt.len(), index)),
            },
            SplitRecord::Clobbered { index, .. } => {
                let mut body = Vec::new();
                sr.copy_payload(&mut body).unwrap();
                saved.insert(index, body);
            }
            SplitRecord::End { total } => {
                assert_eq!(pending.len(), 1);
                let (at, index) = pending[0];
                let body = &saved[&index];
                rebuilt.splice(at..at, body.iter().copied());
                assert_eq!(total, rebuilt.len() as u64);
                break;
            }
        }
    }
    assert!(rebuilt == tar, "rebuilt stream differs");
}

#[test]
fn truncated_streams_error_with_the_entry_and_offsets() {
    let big = vec![7u8; 5000];
    let mut w = TarWriter::new(Vec::new());
    w.append_file("first", 0o644, 0, 3, &mut &b"abc"[..])
        .unwrap();
    w.append_file("victim", 0o644, 0, 5000, &mut &big[..])
        .unwrap();
    let tar = w.finish().unwrap();
    // Header of victim at 1024, data from 1536, padded end at 1536+5120.
    let cut = &tar[..3000];
    let err = read_all(cut).unwrap_err();
    assert_eq!(
        err.to_string(),
        "truncated tar: entry victim ends at byte 6656 but the stream ended at 3000"
    );
    let err = read_all(&tar[..1300]).unwrap_err();
    assert!(
        matches!(
            err,
            TarError::TruncatedHeader {
                offset: 1024,
                got: 1300
            }
        ),
        "{err}"
    );
    // Cut inside a PAX header's data.
    let mut w = TarWriter::new(Vec::new());
    w.append_file(&"n".repeat(200), 0o644, 0, 0, &mut io::empty())
        .unwrap();
    let tar = w.finish().unwrap();
    assert!(matches!(
        read_all(&tar[..600]).unwrap_err(),
        TarError::Truncated { .. }
    ));
    // Ending cleanly after a member, without end blocks, is accepted.
    let mut w = TarWriter::new(Vec::new());
    w.append_file("a", 0o644, 0, 3, &mut &b"abc"[..]).unwrap();
    let tar = w.finish().unwrap();
    assert_eq!(read_all(&tar[..1024]).unwrap().len(), 1);
    // So is ending right after its data, without its padding, or
    // inside the padding (Go's reader takes both as the end)...
    for cut in [515, 700] {
        let entries = read_all(&tar[..cut]).unwrap();
        assert_eq!(entries.len(), 1, "cut at {cut}");
        assert_eq!(entries[0].1, b"abc", "cut at {cut}");
    }
    // ...but not a stream cut inside the data.
    assert!(matches!(
        read_all(&tar[..514]).unwrap_err(),
        TarError::Truncated {
            end: 1024,
            got: 514,
            ..
        }
    ));
}

#[test]
fn bad_checksum_and_lone_zero_block_are_errors() {
    let mut w = TarWriter::new(Vec::new());
    w.append_file("a", 0o644, 0, 3, &mut &b"abc"[..]).unwrap();
    w.append_file("b", 0o644, 0, 3, &mut &b"abc"[..]).unwrap();
    let tar = w.finish().unwrap();
    let mut bad = tar.clone();
    bad[1024] = b'c';
    let err = read_all(&bad).unwrap_err();
    assert!(
        matches!(err, TarError::Checksum { offset: 1024, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("checksum"));
    let mut lone = tar[..1024].to_vec();
    lone.extend_from_slice(&[0u8; 512]);
    lone.extend_from_slice(&tar[1024..]);
    assert!(matches!(
        read_all(&lone).unwrap_err(),
        TarError::LoneZeroBlock { offset: 1024 }
    ));
    assert!(read_all(b"not a tar file at all").is_err());
}

/// Rewrites the type flag of the header at `at` and fixes its checksum.
fn set_flag(tar: &mut [u8], at: usize, flag: u8) {
    let h = &mut tar[at..at + 512];
    h[156] = flag;
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

#[test]
fn sparse_and_unknown_types_are_refused_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let f = File::create(dir.path().join("holes")).unwrap();
    f.write_all_at(b"end", 8 << 20).unwrap();
    for format in ["--format=gnu", "--format=posix"] {
        let tar = gnu_tar(dir.path(), &[format, "--sparse", "holes"]);
        let err = read_all(&tar).unwrap_err();
        assert!(
            matches!(&err, TarError::Unsupported { entry, .. } if entry.ends_with("holes")),
            "{err}"
        );
        assert!(err.to_string().contains("sparse"), "{err}");
    }
    let mut w = TarWriter::new(Vec::new());
    w.append_file("odd", 0o644, 0, 0, &mut io::empty()).unwrap();
    let mut tar = w.finish().unwrap();
    set_flag(&mut tar, 0, b'Z');
    let err = read_all(&tar).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tar entry odd (header at byte 0): type 'Z' entries are not supported"
    );
}

#[test]
fn index_lists_members_and_their_data_offsets() {
    let dir = tempfile::tempdir().unwrap();
    fixture_tree(dir.path());
    let tar = gnu_tar(dir.path(), &["--format=gnu", "."]);
    let path = dir.path().join("a.tar");
    std::fs::write(&path, &tar).unwrap();
    let file = File::open(&path).unwrap();
    let idx = index(&file).unwrap();
    let get = |p: &str| idx.iter().find(|e| e.path == p).unwrap();
    assert!(idx
        .iter()
        .all(|e| !e.path.starts_with('.') && !e.path.ends_with('/')));
    for (name, want) in [
        ("dir/file", &b"hello\n"[..]),
        (&long_name()[..], b"long named"),
    ] {
        let e = get(name);
        let mut buf = vec![0u8; e.size as usize];
        file.read_exact_at(&mut buf, e.offset).unwrap();
        assert_eq!(buf, want);
    }
    let big = get("dir/big");
    assert_eq!(big.size, 300_000);
    assert_eq!(get("dir/hard").link.as_deref(), Some("dir/file"));
    assert_eq!(get("dir").kind, EntryKind::Directory);

    let cut = dir.path().join("cut.tar");
    std::fs::write(&cut, &tar[..(big.offset + 100) as usize]).unwrap();
    let err = index(&File::open(&cut).unwrap()).unwrap_err();
    assert!(
        matches!(&err, TarError::Truncated { entry, .. } if entry.ends_with("dir/big")),
        "{err}"
    );
}

#[test]
fn numbers_parse_in_octal_and_base256() {
    assert_eq!(parse_number(b" 0000755\0"), Some(0o755));
    assert_eq!(parse_number(b"\0\0\0\0"), Some(0));
    assert_eq!(parse_number(b"12 34"), None);
    assert_eq!(
        parse_number(&[0x80, 0, 0, 0, 0, 0, 0x2d, 0xc6, 0xc0]),
        Some(3_000_000)
    );
    assert_eq!(parse_number(&[0xff; 8]), Some(-1));
    assert_eq!(
        parse_number(&[0x80, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        None
    );
    assert_eq!(
        parse_pax_time(b"12.5"),
        Some(Mtime {
            secs: 12,
            nanos: 500_000_000
        })
    );
    assert_eq!(
        parse_pax_time(b"-1.25"),
        Some(Mtime {
            secs: -2,
            nanos: 750_000_000
        })
    );
    assert_eq!(parse_pax_time(b"1x"), None);
}

#[test]
fn writer_refuses_data_of_the_wrong_length() {
    let mut w = TarWriter::new(Vec::new());
    let err = w
        .append_file("short", 0o644, 0, 10, &mut &b"abc"[..])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "writing tar entry short: expected 10 bytes of data, the reader ended after 3"
    );
    let err = w
        .append_file("long", 0o644, 0, 2, &mut &b"abc"[..])
        .unwrap_err();
    assert!(matches!(err, TarError::DataLength { .. }));
    assert!(w.append_dir("bad\0name", 0o755, 0).is_err());
}

#[test]
fn pax_records_size_their_own_length() {
    for vlen in [0, 1, 4, 5, 90, 91, 92, 993, 994, 995, 9990] {
        let mut out = Vec::new();
        pax_record(&mut out, "path", &vec![b'a'; vlen]);
        let mut pax = Pax::default();
        parse_pax(&out, &mut pax).unwrap();
        assert_eq!(pax.path.map(|p| p.len()).unwrap_or(0), vlen);
    }
}
