//! WskRegister, WskCaptureProviderNPI, WskReleaseProviderNPI,
//! WskQueryProviderCharacteristics, WskDeregister; `PWSK_CLIENT`.
//!
//! The client's `WSK_REGISTRATION` block is client memory: libwsk marks it (a magic value
//! in `ReservedRegistrationState`) and keeps its own table from block address to the
//! registration, so an unknown or already deregistered block is recognised without
//! trusting its contents. `PWSK_CLIENT` is the address of the provider's per-registration
//! client object, checked against a table of live clients on every use.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use wsk_api::{ProviderNpi, Registration, Wait};

use crate::abi::{
    NPIID, NTSTATUS, PVOID, WSK_CLIENT_DISPATCH, WSK_CLIENT_NPI, WSK_PROVIDER_CHARACTERISTICS, WSK_PROVIDER_NPI,
    WSK_REGISTRATION,
};
use crate::guard::{guard, guard_status};
use crate::status::{STATUS_DEVICE_NOT_READY, STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER, STATUS_SUCCESS};

/// "WSKREG" + 0x0001: marks a registered `WSK_REGISTRATION` block.
const REGISTERED_MAGIC: u64 = 0x5753_4B52_4547_0001;
/// "WSKREG" + 0xDEAD: marks a block whose registration was deregistered (captures on it
/// answer `STATUS_DEVICE_NOT_READY`, as Windows documents; on a block that was never
/// registered, `STATUS_INVALID_PARAMETER`).
const DEREGISTERED_MAGIC: u64 = 0x5753_4B52_4547_DEAD;

/// `NPI_WSK_INTERFACE_ID`, exported for C (`extern const NPIID NPI_WSK_INTERFACE_ID`).
#[no_mangle]
pub static NPI_WSK_INTERFACE_ID: NPIID = crate::abi::NPI_WSK_INTERFACE_ID_VALUE;

/// One registration: what `PWSK_CLIENT` points to.
pub struct Client {
    registration: Arc<Registration>,
    /// The captured NPIs (one per successful `WskCaptureProviderNPI`). A call in progress
    /// holds its own reference, so a release during the call takes effect when it returns.
    captures: Mutex<Vec<Arc<ProviderNpi>>>,
    deregistering: AtomicBool,
    /// `WSK_CLIENT_NPI.ClientContext` (for `WskClientEvent`; no events are defined).
    pub context: usize,
    /// The address of the client's `WSK_REGISTRATION` block.
    block: usize,
}

impl Client {
    /// Runs `f` with a captured NPI of this registration: `STATUS_DEVICE_NOT_READY` while
    /// deregistering or when nothing is captured (calls after `WskReleaseProviderNPI`).
    ///
    /// `f` runs with no lock held: it may complete an IRP inline, and that completion
    /// routine may call back into any provider function.
    pub fn with_npi<T>(&self, f: impl FnOnce(&ProviderNpi) -> T) -> Result<T, NTSTATUS> {
        self.check_ready()?;
        let npi = lock(&self.captures).first().cloned().ok_or(STATUS_DEVICE_NOT_READY)?;
        Ok(f(&npi))
    }
}

impl Client {
    /// `STATUS_DEVICE_NOT_READY` once `WskDeregister` started.
    pub fn check_ready(&self) -> Result<(), NTSTATUS> {
        if self.deregistering.load(Ordering::Acquire) {
            Err(STATUS_DEVICE_NOT_READY)
        } else {
            Ok(())
        }
    }
}

/// The answer for a registration block libwsk does not know: `STATUS_DEVICE_NOT_READY`
/// if it was deregistered, `STATUS_INVALID_PARAMETER` if it never was registered (or NULL).
///
/// # Safety
/// `block` is NULL or the client's `WSK_REGISTRATION`.
unsafe fn unknown_block(block: *mut WSK_REGISTRATION) -> NTSTATUS {
    // SAFETY: the caller upholds this function's contract (see its docs).
    unsafe {
        if !block.is_null() && std::ptr::read_volatile(&(*block).ReservedRegistrationState) == DEREGISTERED_MAGIC {
            STATUS_DEVICE_NOT_READY
        } else {
            STATUS_INVALID_PARAMETER
        }
    }
}

#[derive(Default)]
struct Tables {
    /// Live clients by `PWSK_CLIENT` address.
    clients: HashMap<usize, Arc<Client>>,
    /// Live clients by `WSK_REGISTRATION` address.
    blocks: HashMap<usize, Arc<Client>>,
}

static TABLES: Mutex<Option<Tables>> = Mutex::new(None);

use crate::kernel::sync::lock;

fn with_tables<T>(f: impl FnOnce(&mut Tables) -> T) -> T {
    f(lock(&TABLES).get_or_insert_with(Tables::default))
}

/// The client behind a `PWSK_CLIENT`: `STATUS_INVALID_HANDLE` for NULL or unknown ones.
pub fn client(p: PVOID) -> Result<Arc<Client>, NTSTATUS> {
    with_tables(|t| t.clients.get(&(p as usize)).cloned()).ok_or(STATUS_INVALID_HANDLE)
}

fn by_block(block: *mut WSK_REGISTRATION) -> Option<Arc<Client>> {
    with_tables(|t| t.blocks.get(&(block as usize)).cloned())
}

/// Live registrations and unreleased captures (for the leak report).
pub fn outstanding() -> (usize, usize) {
    with_tables(|t| (t.blocks.len(), t.blocks.values().map(|c| lock(&c.captures).len()).sum()))
}

/// `WskRegister`.
#[no_mangle]
pub unsafe extern "C" fn WskRegister(
    WskClientNpi: *mut WSK_CLIENT_NPI,
    WskRegistration: *mut WSK_REGISTRATION,
) -> NTSTATUS {
    // SAFETY: the caller passes WskRegister's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskRegister", || unsafe {
        if WskClientNpi.is_null() || WskRegistration.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        let npi = std::ptr::read(WskClientNpi);
        if npi.Dispatch.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        let dispatch: WSK_CLIENT_DISPATCH = std::ptr::read(npi.Dispatch);
        if by_block(WskRegistration).is_some() {
            tracing::error!("WskRegister: this WSK_REGISTRATION is already registered");
            return STATUS_INVALID_PARAMETER;
        }
        let registration = match Registration::with_provider(&wsk_api::Provider::host(), dispatch.Version) {
            Ok(r) => r,
            Err(e) => return e.0,
        };
        let client = Arc::new(Client {
            registration: Arc::new(registration),
            captures: Mutex::new(Vec::new()),
            deregistering: AtomicBool::new(false),
            context: npi.ClientContext as usize,
            block: WskRegistration as usize,
        });
        let key = Arc::as_ptr(&client) as usize;
        with_tables(|t| {
            t.clients.insert(key, Arc::clone(&client));
            t.blocks.insert(WskRegistration as usize, Arc::clone(&client));
        });
        (*WskRegistration).ReservedRegistrationState = REGISTERED_MAGIC;
        (*WskRegistration).ReservedRegistrationContext = key as PVOID;
        (*WskRegistration).ReservedRegistrationLock = 0;
        STATUS_SUCCESS
    })
}

/// `WskCaptureProviderNPI`: `WaitTimeout` in milliseconds, `WSK_NO_WAIT`, `WSK_INFINITE_WAIT`.
#[no_mangle]
pub unsafe extern "C" fn WskCaptureProviderNPI(
    WskRegistration: *mut WSK_REGISTRATION,
    WaitTimeout: u32,
    WskProviderNpi: *mut WSK_PROVIDER_NPI,
) -> NTSTATUS {
    // SAFETY: the caller passes WskCaptureProviderNPI's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskCaptureProviderNPI", || unsafe {
        let Some(client) = by_block(WskRegistration) else { return unknown_block(WskRegistration) };
        if WskProviderNpi.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        if client.deregistering.load(Ordering::Acquire) {
            return STATUS_DEVICE_NOT_READY;
        }
        match client.registration.capture(Wait::from_wsk(WaitTimeout)) {
            Ok(npi) => {
                lock(&client.captures).push(Arc::new(npi));
                (*WskProviderNpi).Client = Arc::as_ptr(&client) as PVOID;
                (*WskProviderNpi).Dispatch = crate::wsk::tables::provider();
                STATUS_SUCCESS
            }
            Err(e) => e.0,
        }
    })
}

/// `WskReleaseProviderNPI`: one per successful capture.
#[no_mangle]
pub unsafe extern "C" fn WskReleaseProviderNPI(WskRegistration: *mut WSK_REGISTRATION) {
    guard("WskReleaseProviderNPI", (), || {
        let Some(client) = by_block(WskRegistration) else {
            tracing::error!("WskReleaseProviderNPI: unknown WSK_REGISTRATION {:p}", WskRegistration);
            return;
        };
        let released = lock(&client.captures).pop();
        if released.is_none() {
            tracing::error!("WskReleaseProviderNPI without a matching WskCaptureProviderNPI");
        }
    })
}

/// `WskQueryProviderCharacteristics`.
#[no_mangle]
pub unsafe extern "C" fn WskQueryProviderCharacteristics(
    WskRegistration: *mut WSK_REGISTRATION,
    WskProviderCharacteristics: *mut WSK_PROVIDER_CHARACTERISTICS,
) -> NTSTATUS {
    // SAFETY: the caller passes WskQueryProviderCharacteristics's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard_status("WskQueryProviderCharacteristics", || unsafe {
        let Some(client) = by_block(WskRegistration) else { return unknown_block(WskRegistration) };
        if WskProviderCharacteristics.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        match client.registration.characteristics() {
            Ok(c) => {
                (*WskProviderCharacteristics).HighestVersion = c.highest_version;
                (*WskProviderCharacteristics).LowestVersion = c.lowest_version;
                STATUS_SUCCESS
            }
            Err(e) => e.0,
        }
    })
}

/// `WskDeregister`: blocks until every socket of the registration is closed and every
/// capture released (captures blocked in other threads return `STATUS_DEVICE_NOT_READY`);
/// pending `WSK_TRANSPORT_LIST_CHANGE` IRPs complete with `STATUS_CANCELLED` first, and
/// pending name resolutions are waited for.
#[no_mangle]
pub unsafe extern "C" fn WskDeregister(WskRegistration: *mut WSK_REGISTRATION) {
    // SAFETY: the caller passes WskDeregister's arguments under the WSK contract; each pointer
    // is checked (NULL, the handle and registration tables, the MDL walk) before it is used.
    guard("WskDeregister", (), || unsafe {
        let Some(client) = by_block(WskRegistration) else {
            tracing::error!("WskDeregister: unknown or already deregistered WSK_REGISTRATION {:p}", WskRegistration);
            return;
        };
        if client.deregistering.swap(true, Ordering::AcqRel) {
            tracing::error!("WskDeregister called twice for one registration");
            return;
        }
        if wsk_api::in_client_code() {
            tracing::error!("WskDeregister called from a callback or completion routine: it would wait for itself");
        }
        client.registration.deregister_shared();
        with_tables(|t| {
            t.clients.remove(&(Arc::as_ptr(&client) as usize));
            t.blocks.remove(&client.block);
        });
        (*WskRegistration).ReservedRegistrationState = DEREGISTERED_MAGIC;
        (*WskRegistration).ReservedRegistrationContext = std::ptr::null_mut();
    })
}
