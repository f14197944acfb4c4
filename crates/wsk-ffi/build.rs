//! Writes `wsk.pc` (pkg-config) next to `libwsk.so`, and gives libwsk its SONAME.
//!
//! # Where `target/<profile>/` is
//!
//! Cargo tells a build script only `OUT_DIR`, which is
//! `target/[<triple>/]<profile>/build/wsk-ffi-<hash>/out`; libwsk.so and libwsk.a land
//! three levels up, in `target/[<triple>/]<profile>/`. Cargo does not promise this layout
//! (nor does it give scripts the artifact directory), so the script checks that the second
//! ancestor is called `build` and otherwise writes nothing but a warning.
//!
//! # The file
//!
//! `prefix` is the repository, `includedir` its `include/`, `libdir` the profile directory:
//! `PKG_CONFIG_PATH=target/release pkg-config --cflags --libs wsk` gives the flags that
//! `wsk cflags` / `wsk libs` print. `wsk install --prefix DIR` writes its own copy for DIR.
//!
//! The script reruns only when it changes (`rerun-if-changed=build.rs`): the file depends on
//! nothing else. A deleted `wsk.pc` comes back after `touch crates/wsk-ffi/build.rs`.
//!
//! # SONAME
//!
//! `libwsk.so` gets `SONAME libwsk.so`. A driver linked with `-lwsk` records `NEEDED
//! libwsk.so`; when `wsk run` (which loaded one libwsk globally) opens such a driver, the
//! dynamic loader finds the already loaded library by that name and does not load a second
//! copy from the driver's rpath, even when the driver was linked against another build.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwsk.so");
    }

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let Some(profile_dir) = profile_dir(&out_dir) else {
        println!("cargo:warning=wsk.pc not written: unexpected OUT_DIR layout {}", out_dir.display());
        return;
    };
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let repo = manifest_dir.join("../..");
    let repo = repo.canonicalize().unwrap_or(repo);
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let text = pc_file(&repo.display().to_string(), &profile_dir.display().to_string(), &version);
    let path = profile_dir.join("wsk.pc");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        if let Err(e) = std::fs::write(&path, text) {
            println!("cargo:warning=cannot write {}: {e}", path.display());
        }
    }
}

/// `target/<profile>/build/wsk-ffi-<hash>/out` → `target/<profile>`.
fn profile_dir(out_dir: &Path) -> Option<PathBuf> {
    let build = out_dir.ancestors().nth(2)?;
    if build.file_name()? != "build" {
        return None;
    }
    build.parent().map(Path::to_path_buf)
}

/// The pkg-config file of a development tree (same flags as `wsk cflags` and `wsk libs`).
fn pc_file(repo: &str, libdir: &str, version: &str) -> String {
    format!(
        "# Written by crates/wsk-ffi/build.rs for this development tree.\n\
         prefix={repo}\n\
         includedir=${{prefix}}/include\n\
         libdir={libdir}\n\
         \n\
         Name: wsk\n\
         Description: Windows Winsock Kernel (WSK) provider and kernel routines in user space\n\
         Version: {version}\n\
         Cflags: -I${{includedir}} -fshort-wchar -Wno-multichar\n\
         Libs: -L${{libdir}} -Wl,-rpath,${{libdir}} -lwsk\n\
         Libs.private: -lgcc_s -lutil -lrt -lpthread -lm -ldl\n"
    )
}
