//! Finding a symbol of libc by reading its dynamic symbol table in memory, without dlsym.
//!
//! This library exports `dlsym` and `dlvsym` (so that a program looking up libc's `connect`
//! gets ours), which means any call to `dlsym` from here would land in our own hook. The real
//! ones are found the way the dynamic loader finds any symbol: libc's `PT_DYNAMIC` gives its
//! symbol table, string table, GNU hash table and version table (ELF gABI; the GNU hash layout
//! as binutils and glibc define it).

use std::ffi::{CStr, c_void};

use libc::{c_int, dl_phdr_info, size_t};

const PT_DYNAMIC: u32 = 2;
const DT_NULL: i64 = 0;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_GNU_HASH: i64 = 0x6fff_fef5;
const DT_VERSYM: i64 = 0x6fff_fff0;
/// The versym bit of a non-default (`name@VERSION`, not `@@`) definition.
const VERSYM_HIDDEN: u16 = 0x8000;

#[repr(C)]
struct Dyn {
    tag: i64,
    val: u64,
}

#[repr(C)]
struct Sym {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

/// The GNU hash of a symbol name.
fn gnu_hash(name: &[u8]) -> u32 {
    name.iter().fold(5381u32, |h, c| {
        h.wrapping_mul(33).wrapping_add(u32::from(*c))
    })
}

/// The object's file name ends with `/libc.so.6`, or is `libc.so.6`.
fn is_libc(name: &[u8]) -> bool {
    name == b"libc.so.6" || name.ends_with(b"/libc.so.6")
}

struct Search<'a> {
    symbol: &'a [u8],
    found: usize,
}

/// Looks `s.symbol` up in one object (the default version when there are several).
///
/// # Safety
/// `info` is what dl_iterate_phdr passes: the object's program headers, mapped at
/// `dlpi_addr`, with a dynamic section the loader has set up.
unsafe fn lookup(info: &dl_phdr_info, symbol: &[u8]) -> Option<usize> {
    let base = info.dlpi_addr as usize;
    // SAFETY: dl_iterate_phdr hands out dlpi_phnum program headers at dlpi_phdr.
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    let dynamic = phdrs.iter().find(|p| p.p_type == PT_DYNAMIC)?;
    let mut at = (base + dynamic.p_vaddr as usize) as *const Dyn;
    // The loader relocates these entries in place for shared objects; an unrelocated one is
    // an offset from the base.
    let addr = |v: u64| -> usize {
        let v = v as usize;
        if v < base { base + v } else { v }
    };
    let (mut strtab, mut symtab, mut gnu_hash_at, mut versym) = (0, 0, 0, 0);
    loop {
        // SAFETY: the dynamic section is an array ending with DT_NULL.
        let d = unsafe { &*at };
        match d.tag {
            DT_NULL => break,
            DT_STRTAB => strtab = addr(d.val),
            DT_SYMTAB => symtab = addr(d.val),
            DT_GNU_HASH => gnu_hash_at = addr(d.val),
            DT_VERSYM => versym = addr(d.val),
            _ => {}
        }
        // SAFETY: not past DT_NULL.
        at = unsafe { at.add(1) };
    }
    if strtab == 0 || symtab == 0 || gnu_hash_at == 0 {
        return None;
    }
    // SAFETY: the GNU hash section: nbuckets, symoffset, bloom size, bloom shift, then the
    // bloom words, the buckets and the chains, all mapped as part of the object.
    unsafe {
        let header = gnu_hash_at as *const u32;
        let (nbuckets, symoffset, bloom_size) = (*header, *header.add(1), *header.add(2));
        if nbuckets == 0 {
            return None;
        }
        let buckets = header
            .add(4)
            .cast::<u64>()
            .add(bloom_size as usize)
            .cast::<u32>();
        let chains = buckets.add(nbuckets as usize);
        let hash = gnu_hash(symbol);
        let mut index = *buckets.add((hash % nbuckets) as usize);
        if index < symoffset {
            return None;
        }
        let mut fallback = None;
        loop {
            let chain = *chains.add((index - symoffset) as usize);
            if chain | 1 == hash | 1 {
                let sym = &*(symtab as *const Sym).add(index as usize);
                let name = CStr::from_ptr((strtab + sym.name as usize) as *const libc::c_char);
                if name.to_bytes() == symbol && sym.shndx != 0 && sym.value != 0 {
                    let value = base + sym.value as usize;
                    let hidden = versym != 0
                        && *(versym as *const u16).add(index as usize) & VERSYM_HIDDEN != 0;
                    if !hidden {
                        return Some(value);
                    }
                    fallback = fallback.or(Some(value));
                }
            }
            if chain & 1 != 0 {
                return fallback;
            }
            index += 1;
        }
    }
}

unsafe extern "C" fn visit(info: *mut dl_phdr_info, _size: size_t, data: *mut c_void) -> c_int {
    // SAFETY: data is the Search passed to dl_iterate_phdr below; info is the loader's.
    let (search, info) = unsafe { (&mut *data.cast::<Search<'_>>(), &*info) };
    if info.dlpi_name.is_null() {
        return 0;
    }
    // SAFETY: a non-null dlpi_name is a NUL-terminated string of the loader's.
    let name = unsafe { CStr::from_ptr(info.dlpi_name) }.to_bytes();
    if !is_libc(name) {
        return 0;
    }
    // SAFETY: info comes from dl_iterate_phdr.
    match unsafe { lookup(info, search.symbol) } {
        Some(found) => {
            search.found = found;
            1
        }
        None => 0,
    }
}

/// The address of libc's `symbol` (its default version), or 0.
pub(crate) fn libc_symbol(symbol: &CStr) -> usize {
    let mut search = Search {
        symbol: symbol.to_bytes(),
        found: 0,
    };
    // SAFETY: visit only reads what the loader hands it; search outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), std::ptr::from_mut(&mut search).cast()) };
    search.found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_as_binutils_does() {
        assert_eq!(gnu_hash(b""), 5381);
        assert_eq!(gnu_hash(b"printf"), 0x156b_2bb8);
        assert_eq!(gnu_hash(b"exit"), 0x7c96_7e3f);
    }

    #[test]
    fn finds_libc_functions_without_dlsym() {
        // The test binary links libc: its getpid is libc's.
        let found = libc_symbol(c"getpid");
        assert_eq!(found, libc::getpid as *const () as usize);
        assert_ne!(libc_symbol(c"dlsym"), 0);
        assert_eq!(libc_symbol(c"no_such_symbol_anywhere"), 0);
    }

    #[test]
    fn knows_libc_by_its_file_name() {
        assert!(is_libc(b"/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(is_libc(b"libc.so.6"));
        assert!(!is_libc(b"/usr/lib/libcurl.so.6"));
    }
}
