//! The component the host embeds is a real, small component.

use seatsync_host::DEFAULT_COMPONENT;

/// Third-party hosts download and embed it: it must stay under 1 MiB.
#[test]
fn release_component_is_under_one_mebibyte() {
    let size = DEFAULT_COMPONENT.len();
    assert!(
        size < 1024 * 1024,
        "the component is {size} bytes, over 1 MiB"
    );
}

/// A component (not a core module): `\0asm`, then version 0x0d and layer 1.
#[test]
fn artifact_is_a_component_binary() {
    assert_eq!(&DEFAULT_COMPONENT[..4], b"\0asm");
    assert_eq!(&DEFAULT_COMPONENT[4..8], &[0x0d, 0x00, 0x01, 0x00]);
}
