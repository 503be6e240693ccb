use super::*;

#[test]
fn coarse_code_is_soundex_like() {
    assert_eq!(coarse_code("diallo"), "d4");
    assert_eq!(coarse_code("ndiaye"), "n3");
    assert_eq!(coarse_code("robert"), "r163");
}

#[test]
fn scanner_reads_escapes_and_numbers() {
    let r = PreparedRecord::from_json(
        r#"{"first_name":"A\u00efcha","national_id":12345,"x":[1,{"y":2}]}"#,
        1,
    )
    .unwrap();
    assert_eq!(r.first.as_ref().unwrap().norm(), "aicha");
    assert_eq!(r.national_id(), Some("12345"));
}
