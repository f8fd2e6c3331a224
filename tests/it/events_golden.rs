//! Golden encodings: name, version and bytes of one instance of every variant. A change here is a
//! change to data already written: bump the version and add an upcaster instead.

use carbonq::events::{encode, sample::one_of_each};

use crate::snapshot_settings;

#[test]
fn every_event_variant_encodes_as_its_golden_bytes() {
    let golden: Vec<String> = one_of_each()
        .iter()
        .map(|event| {
            let e = encode(event).expect("encodes");
            let hex: String = e.data.iter().map(|b| format!("{b:02x}")).collect();
            format!("{} v{} {}", e.type_name, e.version, hex)
        })
        .collect();
    snapshot_settings!().bind(|| insta::assert_yaml_snapshot!(golden));
}

/// `JobFailed.detail` came as a trailing default field: a failure written before it decodes
/// with none (these are the bytes the golden held until then).
#[test]
fn a_job_failed_written_before_detail_existed_decodes_without_one() {
    let before =
        "84a7617474656d707401a56572726f72ad65786974207374617475732031aa77696c6c5f7265747279\
                  c3a872657472795f6174b4323032332d30332d31355431333a30313a30305a";
    let bytes: Vec<u8> = (0..before.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&before[i..i + 2], 16).unwrap())
        .collect();
    match carbonq::events::decode("JobFailed", 1, &bytes).expect("decodes") {
        carbonq::events::JobEvent::Failed(f) => {
            assert_eq!((f.error.as_str(), f.detail), ("exit status 1", None));
        }
        other => panic!("decoded as {other:?}"),
    }
}
