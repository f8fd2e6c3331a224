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
