//! Indication chains handed to C clients, and `WskRelease` of what they retained.
//!
//! `WskReceiveEvent` gets a chain of `WSK_DATA_INDICATION`s and `WskReceiveFromEvent` one of
//! `WSK_DATAGRAM_INDICATION`s. Both are built the same way ([`Chain`]): one heap element
//! per provider buffer (or datagram), the client-visible structure first (its `Next` at
//! offset 0), followed by what it points to (its MDL, and for a datagram its SOCKADDR and
//! control bytes). When the callback returns `STATUS_PENDING` the client keeps the chain:
//! each element takes ownership of its buffer (or datagram), and `WskRelease` on any
//! element or sub-chain — from any thread, in any order, after the client re-linked `Next`
//! as it liked — frees exactly the elements reachable from it ([`release`]).
//!
//! Elements are tracked by address in one table with their [`Kind`] and where they stand
//! ([`Held`]), so a release of a foreign or already released pointer, or of an element of
//! the other kind (a data indication given to the datagram table's `WskRelease`), is
//! `STATUS_INVALID_PARAMETER` and never a dereference.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::abi::{MDL, NTSTATUS, PVOID};
use crate::status::{STATUS_INVALID_PARAMETER, STATUS_SUCCESS};

/// What kind of chain an element belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `WSK_DATA_INDICATION` (`WskReceiveEvent`).
    Data,
    /// `WSK_DATAGRAM_INDICATION` (`WskReceiveFromEvent`).
    Datagram,
}

/// Where an indicated element stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// Shown to a running callback: it may still return STATUS_PENDING, and a thread it
    /// handed the chain to may release it before the callback returns.
    Indicated,
    /// Released while [`Held::Indicated`]: freed as soon as the callback returned.
    ReleasedEarly,
    /// Retained by the client (STATUS_PENDING), owning its buffer.
    Retained,
}

/// A tracked element: its kind, where it stands, and the chain it was indicated in (a
/// `Next` the client left pointing at memory since reused by another chain is told apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    kind: Kind,
    held: Held,
    chain: u64,
}

type Table = HashMap<usize, Entry>;

/// Numbers the chains shown to callbacks.
static NEXT_CHAIN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Elements indicated or retained and not yet released, by address.
static ELEMENTS: Mutex<Option<Table>> = Mutex::new(None);

fn table() -> MutexGuard<'static, Option<Table>> {
    crate::kernel::sync::lock(&ELEMENTS)
}

/// Retained elements of `kind` not yet released (for the leak report).
pub fn retained_count(kind: Kind) -> usize {
    table().as_ref().map_or(0, |m| m.values().filter(|e| e.kind == kind && e.held == Held::Retained).count())
}

/// An element of an indication chain.
///
/// # Safety
/// The implementing type is `#[repr(C)]` and starts with its [`Element::Ind`], whose first
/// member is the `Next` pointer the client follows (so an element's address, the address of
/// its indication and the address the client releases are one).
pub unsafe trait Element: Sized {
    /// The client-visible structure (`WSK_DATA_INDICATION`, `WSK_DATAGRAM_INDICATION`).
    type Ind;
    /// What a retained element owns (a provider buffer, a datagram).
    type Owned;
    /// Which table's `WskRelease` frees it.
    const KIND: Kind;
    /// Sets the element's `Next`.
    fn set_next(&mut self, next: *mut Self::Ind);
    /// Reads `Next` of a live element.
    ///
    /// # Safety
    /// `ind` points to a live element of this type.
    unsafe fn next(ind: *const Self::Ind) -> *mut Self::Ind;
    /// Gives a retained element ownership of what its indication describes.
    fn own(&mut self, owned: Self::Owned);
}

/// An MDL describing `data` (nonpaged, mapped: the client may read it at once).
pub fn mdl_over(data: &[u8]) -> MDL {
    let addr = data.as_ptr() as usize;
    let page = addr & !(crate::abi::PAGE_SIZE - 1);
    MDL {
        Next: std::ptr::null_mut(),
        Size: std::mem::size_of::<MDL>() as i16,
        MdlFlags: crate::abi::MDL_SOURCE_IS_NONPAGED_POOL | crate::abi::MDL_MAPPED_TO_SYSTEM_VA,
        Process: std::ptr::null_mut(),
        MappedSystemVa: addr as PVOID,
        StartVa: page as PVOID,
        ByteCount: data.len() as u32,
        ByteOffset: (addr - page) as u32,
    }
}

/// A chain being shown to a callback: linked, and registered as indicated.
pub struct Chain<E: Element> {
    elements: Vec<Box<E>>,
    addrs: Vec<usize>,
    id: u64,
}

impl<E: Element> Chain<E> {
    /// Links `elements` in order and registers them as shown to a callback.
    pub fn new(mut elements: Vec<Box<E>>) -> Chain<E> {
        for i in (1..elements.len()).rev() {
            let next = &mut *elements[i] as *mut E as *mut E::Ind;
            elements[i - 1].set_next(next);
        }
        let addrs: Vec<usize> = elements.iter().map(|e| &**e as *const E as usize).collect();
        let id = NEXT_CHAIN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut map = table();
        let map = map.get_or_insert_with(HashMap::new);
        for &a in &addrs {
            map.insert(a, Entry { kind: E::KIND, held: Held::Indicated, chain: id });
        }
        Chain { elements, addrs, id }
    }

    /// The first element (NULL for an empty chain).
    pub fn head(&mut self) -> *mut E::Ind {
        self.elements.first_mut().map_or(std::ptr::null_mut(), |e| &mut **e as *mut E as *mut E::Ind)
    }

    /// The callback returned `STATUS_PENDING`: each element takes what it describes (in
    /// order) and is handed to the client until `WskRelease`.
    pub fn retain(mut self, owned: impl IntoIterator<Item = E::Owned>) {
        // First give every element its buffer and hand it to the client (raw), then publish
        // it as retained in one locked pass. A WskRelease from another thread in between
        // finds it still `Indicated` and marks it `ReleasedEarly`; the pass frees those.
        self.addrs.clear();
        let raw: Vec<*mut E> = std::mem::take(&mut self.elements)
            .into_iter()
            .zip(owned)
            .map(|(mut e, o)| {
                e.own(o);
                Box::into_raw(e)
            })
            .collect();
        let mut map = table();
        let map = map.get_or_insert_with(HashMap::new);
        let retained = Entry { kind: E::KIND, held: Held::Retained, chain: self.id };
        for p in raw {
            if map.get(&(p as usize)).is_some_and(|e| e.held == Held::ReleasedEarly) {
                map.remove(&(p as usize));
                // SAFETY: released by the client already; still ours (made above).
                drop(unsafe { Box::from_raw(p) });
            } else {
                map.insert(p as usize, retained);
            }
        }
    }

    /// The callback returned anything but `STATUS_PENDING`: the chain is the provider's
    /// again (`event` names the callback in the log of a client that released it anyway).
    pub fn returned(mut self, event: &str) {
        if self.forget() {
            tracing::error!("WskRelease of an indication whose {event} did not return STATUS_PENDING");
        }
    }

    /// Takes the elements out of the table (before they are freed); whether any had been
    /// released by the client.
    fn forget(&mut self) -> bool {
        if self.addrs.is_empty() {
            return false;
        }
        let mut early = false;
        let mut map = table();
        let map = map.get_or_insert_with(HashMap::new);
        for a in self.addrs.drain(..) {
            early |= map.remove(&a).is_some_and(|e| e.held == Held::ReleasedEarly);
        }
        early
    }
}

/// A chain dropped without an outcome (a panic on the way) leaves no address behind that
/// a later `WskRelease` could take for a live element.
impl<E: Element> Drop for Chain<E> {
    fn drop(&mut self) {
        self.forget();
    }
}

/// `WskRelease` of an indication list of `E`: frees every retained element reachable from
/// `list`, following `Next` as the client left it.
///
/// # Safety
/// `list` is NULL or any pointer: it is checked against the table before it is
/// dereferenced.
pub unsafe fn release<E: Element>(list: *mut E::Ind) -> NTSTATUS {
    if list.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let mut p = list;
    let mut chain = None;
    while !p.is_null() {
        let mut map = table();
        // An element of this kind, and of the chain the walk started in.
        let held = map
            .as_mut()
            .and_then(|m| m.get(&(p as usize)).copied())
            .filter(|e| e.kind == E::KIND && chain.is_none_or(|c| c == e.chain));
        match held {
            Some(Entry { held: Held::Retained, chain: id, .. }) => {
                chain = Some(id);
                map.as_mut().expect("present").remove(&(p as usize));
                drop(map);
                // SAFETY: `p` was a retained element of this kind, removed from the table
                // just now so no other release can free it; it was made by `Box::into_raw`.
                let element = unsafe { Box::from_raw(p as *mut E) };
                // SAFETY: the element is live until dropped below.
                p = unsafe { E::next(&*element as *const E as *const E::Ind) };
                drop(element); // returns the buffer to the provider
            }
            Some(entry @ Entry { held: Held::Indicated, chain: id, .. }) => {
                chain = Some(id);
                // Released by another thread before the callback returned STATUS_PENDING:
                // freed once it has (see `Chain::retain`).
                map.as_mut().expect("present").insert(p as usize, Entry { held: Held::ReleasedEarly, ..entry });
                // SAFETY: the element lives until the callback returned, which cannot happen
                // before the table lock is released.
                p = unsafe { E::next(p) };
            }
            _ => {
                return if chain.is_none() { STATUS_INVALID_PARAMETER } else { STATUS_SUCCESS };
            }
        }
    }
    STATUS_SUCCESS
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The table is process-wide: these tests run one at a time, and nothing else in this
    /// crate's unit tests indicates datagrams.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[repr(C)]
    struct TestInd {
        next: *mut TestInd,
    }

    /// An element whose owned value is a reference to a shared counter.
    #[repr(C)]
    struct TestElement {
        ind: TestInd,
        owned: Option<Arc<()>>,
    }

    // SAFETY: `#[repr(C)]`, the indication first, its `next` first.
    unsafe impl Element for TestElement {
        type Ind = TestInd;
        type Owned = Arc<()>;
        const KIND: Kind = Kind::Datagram;

        fn set_next(&mut self, next: *mut TestInd) {
            self.ind.next = next;
        }

        unsafe fn next(ind: *const TestInd) -> *mut TestInd {
            // SAFETY: per the trait.
            unsafe { (*ind).next }
        }

        fn own(&mut self, owned: Arc<()>) {
            self.owned = Some(owned);
        }
    }

    fn indicated(n: usize) -> (Chain<TestElement>, Vec<*mut TestInd>) {
        let elements: Vec<Box<TestElement>> = (0..n)
            .map(|_| Box::new(TestElement { ind: TestInd { next: std::ptr::null_mut() }, owned: None }))
            .collect();
        let mut chain = Chain::new(elements);
        let mut ptrs = Vec::new();
        let mut p = chain.head();
        while !p.is_null() {
            ptrs.push(p);
            // SAFETY: elements of the chain, alive while it is.
            p = unsafe { (*p).next };
        }
        (chain, ptrs)
    }

    /// A release while the callback still runs frees the element once it retained the chain;
    /// later releases free the rest, in pieces; second releases and foreign pointers are refused.
    #[test]
    fn early_and_piecewise_releases() {
        let _serial = serial();
        let counter = Arc::new(());
        let (chain, e) = indicated(3);
        assert_eq!(e.len(), 3);
        // SAFETY: pointers of this test's chain (checked against the table by `release`).
        unsafe {
            // Another thread releases the middle element (and what follows) before the callback returned.
            assert_eq!(release::<TestElement>(e[1]), STATUS_SUCCESS);
            assert_eq!(release::<TestElement>(e[1]), STATUS_INVALID_PARAMETER, "released early already");
            chain.retain((0..3).map(|_| Arc::clone(&counter)));
            // Elements 1 and 2 were freed when the chain was retained; 0 is held.
            assert_eq!(Arc::strong_count(&counter), 2);
            assert_eq!(release::<TestElement>(e[2]), STATUS_INVALID_PARAMETER, "freed at retain");
            let foreign = TestInd { next: std::ptr::null_mut() };
            assert_eq!(release::<TestElement>(&foreign as *const TestInd as *mut TestInd), STATUS_INVALID_PARAMETER);
            assert_eq!(release::<TestElement>(std::ptr::null_mut()), STATUS_INVALID_PARAMETER);
            // Its `next` names a freed element: the walk stops there.
            assert_eq!(release::<TestElement>(e[0]), STATUS_SUCCESS);
            assert_eq!(release::<TestElement>(e[0]), STATUS_INVALID_PARAMETER);
        }
        assert_eq!(Arc::strong_count(&counter), 1, "everything given back");
        assert_eq!(retained_count(Kind::Datagram), 0);
    }

    /// Elements of the other kind are not this table's: refused, never freed as the wrong type.
    #[test]
    fn the_other_kind_is_refused() {
        let _serial = serial();
        let counter = Arc::new(());
        let (chain, e) = indicated(1);
        chain.retain([Arc::clone(&counter)]);

        /// The same layout, of the other kind.
        #[repr(C)]
        struct DataElement {
            ind: TestInd,
        }
        // SAFETY: `#[repr(C)]`, the indication first.
        unsafe impl Element for DataElement {
            type Ind = TestInd;
            type Owned = ();
            const KIND: Kind = Kind::Data;
            fn set_next(&mut self, next: *mut TestInd) {
                self.ind.next = next;
            }
            unsafe fn next(ind: *const TestInd) -> *mut TestInd {
                // SAFETY: per the trait.
                unsafe { (*ind).next }
            }
            fn own(&mut self, _: ()) {}
        }
        // SAFETY: checked against the table.
        unsafe {
            assert_eq!(release::<DataElement>(e[0]), STATUS_INVALID_PARAMETER);
            assert_eq!(Arc::strong_count(&counter), 2);
            assert_eq!(release::<TestElement>(e[0]), STATUS_SUCCESS);
        }
        assert_eq!(Arc::strong_count(&counter), 1);
    }

    /// A `Next` left pointing at an element of another chain (memory a released element
    /// had, reused for a newer chain) ends the walk there: the other chain is not touched.
    #[test]
    fn a_walk_stays_in_its_chain() {
        let _serial = serial();
        let counter = Arc::new(());
        let (a, ea) = indicated(1);
        a.retain([Arc::clone(&counter)]);
        let (b, eb) = indicated(2);
        b.retain((0..2).map(|_| Arc::clone(&counter)));
        assert_eq!(Arc::strong_count(&counter), 4);
        // SAFETY: pointers of this test's chains; the stray `next` is what is being tested.
        unsafe {
            let stray = ea[0];
            (*stray).next = eb[1];
            assert_eq!(release::<TestElement>(ea[0]), STATUS_SUCCESS);
            assert_eq!(Arc::strong_count(&counter), 3, "only chain a's element was freed");
            assert_eq!(release::<TestElement>(eb[0]), STATUS_SUCCESS);
        }
        assert_eq!(Arc::strong_count(&counter), 1);
    }

    /// Not retained: a chain released early by the client is taken back all the same, and
    /// no address is left in the table (also when the chain is dropped without an outcome).
    #[test]
    fn returned_and_dropped_chains_leave_nothing() {
        let _serial = serial();
        let (chain, e) = indicated(2);
        // SAFETY: checked against the table.
        unsafe { assert_eq!(release::<TestElement>(e[0]), STATUS_SUCCESS) };
        chain.returned("test event");
        let (chain, f) = indicated(2);
        drop(chain);
        let map = table();
        for p in e.iter().chain(f.iter()) {
            assert!(map.as_ref().and_then(|m| m.get(&(*p as usize))).is_none(), "an address left in the table");
        }
    }
}
