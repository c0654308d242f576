//! docker compose's progress lines (` ✔ Container web-1  Started`), on
//! stderr so stdout stays for data.

pub fn line(kind: &str, name: &str, what: &str) {
    eprintln!(" {kind} {name}  {what}");
}
