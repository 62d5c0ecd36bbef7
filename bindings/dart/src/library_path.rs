//! `lime_dart_library_path`: where the loaded native library is, for the Dart loader.
//!
//! An app that depends on the Dart package gets this library from the package's build hook
//! (`dart/hook/build.dart`) as the native asset `package:lime/lime_dart`. The Dart VM loads
//! an asset when it first resolves a function declared with `@Native(assetId: …)`, but
//! flutter_rust_bridge looks its symbols up in a `DynamicLibrary`, which is opened by path.
//! So the loader (`dart/lib/src/native.dart`) calls this one function through the asset and
//! opens the path it returns: the file the VM loaded, hence the same loaded copy.
//!
//! Not in `api/`: flutter_rust_bridge does not translate it, Dart binds it with `@Native`.

use std::{
    ffi::{c_char, CStr, CString},
    sync::OnceLock,
};

/// The path of the file this function was loaded from, as a NUL-terminated UTF-8 string owned
/// by the library (valid while it is loaded; never freed by the caller), or null where it
/// cannot be told. On Windows it is always null: there the Dart loader opens `lime_dart.dll`
/// by name, which finds the copy already loaded.
#[no_mangle]
#[allow(unsafe_code)] // an exported C symbol (`no_mangle`); the body is safe code
pub extern "C" fn lime_dart_library_path() -> *const c_char {
    static PATH: OnceLock<Option<CString>> = OnceLock::new();
    PATH.get_or_init(|| own_path().and_then(|path| CString::new(path).ok()))
        .as_ref()
        .map_or(std::ptr::null(), |path| path.as_ptr())
}

/// The file `lime_dart_library_path` is in, asked of the dynamic loader (`dladdr`).
#[cfg(unix)]
#[allow(unsafe_code)] // a call into the C library, see the SAFETY notes
fn own_path() -> Option<String> {
    use std::ffi::{c_int, c_void};

    /// `Dl_info` of `<dlfcn.h>`: the same four pointers on glibc, musl, bionic and Darwin.
    #[repr(C)]
    struct DlInfo {
        dli_fname: *const c_char,
        dli_fbase: *mut c_void,
        dli_sname: *const c_char,
        dli_saddr: *mut c_void,
    }

    extern "C" {
        fn dladdr(address: *const c_void, info: *mut DlInfo) -> c_int;
    }

    let mut info = DlInfo {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    let address = lime_dart_library_path as *const c_void;
    // SAFETY: `address` is a function of this library and `info` a valid, writable `Dl_info`;
    // dladdr only writes `info` (0: the address is in no loaded object).
    if unsafe { dladdr(address, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: on success `dli_fname` points to the loader's NUL-terminated copy of the object's
    // path, valid while the object stays loaded; it is copied at once.
    let path = unsafe { CStr::from_ptr(info.dli_fname) };
    path.to_str().ok().filter(|p| !p.is_empty()).map(str::to_owned)
}

#[cfg(not(unix))]
fn own_path() -> Option<String> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// In a test the function is linked into the test program: the path is that file's.
    #[test]
    fn names_the_file_the_function_is_in() {
        let first = lime_dart_library_path();
        assert!(!first.is_null());
        // SAFETY: a non-null result is a NUL-terminated string owned by the static `PATH`.
        #[allow(unsafe_code)]
        let path = unsafe { CStr::from_ptr(first) }.to_str().unwrap().to_owned();
        let reported = std::fs::canonicalize(&path).unwrap();
        let program = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(reported, program);
        // the same string every time, owned by the library
        assert_eq!(lime_dart_library_path(), first);
    }
}
