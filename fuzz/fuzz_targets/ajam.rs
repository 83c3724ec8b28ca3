#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| amiwire::fuzzing::fuzz_ajam(data));
