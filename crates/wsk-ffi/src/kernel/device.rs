//! Device objects: `IoCreateDevice` / `IoDeleteDevice`.
//!
//! A device object is a `DEVICE_OBJECT` followed by its zeroed extension, linked at the
//! head of its driver's `DeviceObject` list (as Windows does). libwsk also keeps a
//! reference count of its own: a queued work item holds its device, so a device deleted
//! while work is queued stays allocated until that work has run (Windows defers the
//! deletion the same way). Names are recorded only to refuse a second device of the same
//! name (`STATUS_OBJECT_NAME_COLLISION`).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::BTreeMap;
use std::ptr::null_mut;
use std::sync::Mutex;

use crate::abi::{
    BOOLEAN, DEVICE_OBJECT, DO_DEVICE_INITIALIZING, DO_EXCLUSIVE, DRIVER_OBJECT, IO_TYPE_DEVICE, NTSTATUS, ULONG,
    UNICODE_STRING,
};
use crate::guard::{guard, guard_status};

use crate::status::{
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_COLLISION, STATUS_SUCCESS,
};

const DEVICE_ALIGN: usize = 16;

struct Device {
    /// Allocation size (header + extension).
    size: usize,
    /// libwsk's references (queued work items).
    refs: usize,
    /// `IoDeleteDevice` was called; freed when `refs` drops to 0.
    deleted: bool,
    name: Option<Vec<u16>>,
}

static DEVICES: Mutex<BTreeMap<usize, Device>> = Mutex::new(BTreeMap::new());

fn devices() -> std::sync::MutexGuard<'static, BTreeMap<usize, Device>> {
    crate::kernel::sync::lock(&DEVICES)
}

/// Device objects created and not deleted.
pub fn live_devices() -> usize {
    devices().values().filter(|d| !d.deleted).count()
}

/// Whether `dev` is a live device object of libwsk (created, not yet freed).
pub fn is_device(dev: *const DEVICE_OBJECT) -> bool {
    devices().contains_key(&(dev as usize))
}

/// Takes a reference on a device (false if it is not libwsk's).
pub fn reference(dev: *mut DEVICE_OBJECT) -> bool {
    match devices().get_mut(&(dev as usize)) {
        Some(d) => {
            d.refs += 1;
            true
        }
        None => false,
    }
}

/// Drops a reference from [`reference`]; frees a deleted device at the last one.
pub fn dereference(dev: *mut DEVICE_OBJECT) {
    let mut map = devices();
    let Some(d) = map.get_mut(&(dev as usize)) else { return };
    d.refs = d.refs.saturating_sub(1);
    if d.refs == 0 && d.deleted {
        let d = map.remove(&(dev as usize)).expect("present");
        // SAFETY: allocated by IoCreateDevice with this layout; deleted and unreferenced.
        unsafe { dealloc(dev as *mut u8, Layout::from_size_align_unchecked(d.size, DEVICE_ALIGN)) };
    }
}

/// The UTF-16 contents of a `UNICODE_STRING`.
///
/// # Safety
/// `s` is NULL or points to a valid `UNICODE_STRING`.
unsafe fn name_of(s: *const UNICODE_STRING) -> Option<Vec<u16>> {
    if s.is_null() {
        return None;
    }
    // SAFETY: per the caller.
    let name = unsafe { super::rtl::chars(s) };
    (!name.is_empty()).then(|| name.to_vec())
}

/// `IoCreateDevice`: a device object with a zeroed extension of `DeviceExtensionSize`
/// bytes (`DeviceExtension` NULL when 0), `DO_DEVICE_INITIALIZING` set, linked at the head
/// of `DriverObject->DeviceObject`. `STATUS_OBJECT_NAME_COLLISION` if a live device has the
/// same name; `STATUS_INVALID_PARAMETER` for a NULL driver or output pointer.
#[no_mangle]
pub unsafe extern "C" fn IoCreateDevice(
    DriverObject: *mut DRIVER_OBJECT,
    DeviceExtensionSize: ULONG,
    DeviceName: *mut UNICODE_STRING,
    DeviceType: u32,
    DeviceCharacteristics: ULONG,
    Exclusive: BOOLEAN,
    DeviceObject: *mut *mut DEVICE_OBJECT,
) -> NTSTATUS {
    guard_status("IoCreateDevice", || {
        if DriverObject.is_null() || DeviceObject.is_null() {
            kerror!("IoCreateDevice: DriverObject or DeviceObject is NULL; returning STATUS_INVALID_PARAMETER");
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: NULL or the client's UNICODE_STRING.
        let name = unsafe { name_of(DeviceName) };
        let header = std::mem::size_of::<DEVICE_OBJECT>().next_multiple_of(DEVICE_ALIGN);
        let size = header + DeviceExtensionSize as usize;
        let Ok(layout) = Layout::from_size_align(size, DEVICE_ALIGN) else { return STATUS_INSUFFICIENT_RESOURCES };
        let mut map = devices();
        if let Some(n) = &name {
            if map.values().any(|d| !d.deleted && d.name.as_ref() == Some(n)) {
                return STATUS_OBJECT_NAME_COLLISION;
            }
        }
        // SAFETY: non-zero size.
        let dev = unsafe { alloc_zeroed(layout) } as *mut DEVICE_OBJECT;
        if dev.is_null() {
            return STATUS_INSUFFICIENT_RESOURCES;
        }
        // SAFETY: a fresh zeroed block; the client's DRIVER_OBJECT and output pointer.
        unsafe {
            (*dev).Type = IO_TYPE_DEVICE;
            (*dev).Size = size as u16;
            (*dev).DriverObject = DriverObject;
            (*dev).Flags = DO_DEVICE_INITIALIZING | if Exclusive != 0 { DO_EXCLUSIVE } else { 0 };
            (*dev).Characteristics = DeviceCharacteristics;
            (*dev).DeviceExtension =
                if DeviceExtensionSize == 0 { null_mut() } else { (dev as *mut u8).add(header).cast() };
            (*dev).DeviceType = DeviceType;
            (*dev).StackSize = 1;
            (*dev).NextDevice = (*DriverObject).DeviceObject;
            (*DriverObject).DeviceObject = dev;
            *DeviceObject = dev;
        }
        map.insert(dev as usize, Device { size, refs: 0, deleted: false, name });
        STATUS_SUCCESS
    })
}

/// `IoDeleteDevice`: unlinks the device from its driver's list and frees it (later, if
/// queued work items still reference it). Unknown or already deleted devices are logged.
#[no_mangle]
pub unsafe extern "C" fn IoDeleteDevice(DeviceObject: *mut DEVICE_OBJECT) {
    guard("IoDeleteDevice", (), || {
        let dev = DeviceObject;
        let mut map = devices();
        let Some(d) = map.get_mut(&(dev as usize)).filter(|d| !d.deleted) else {
            kerror!("IoDeleteDevice: {dev:p} is not a device from IoCreateDevice, or was already deleted; ignored");
            return;
        };
        d.deleted = true;
        let free_now = d.refs == 0;
        // SAFETY: a live device object of libwsk and its driver's list of them.
        unsafe {
            let driver = (*dev).DriverObject;
            if !driver.is_null() {
                let mut link: *mut *mut DEVICE_OBJECT = &mut (*driver).DeviceObject;
                let mut steps = 0usize;
                while !(*link).is_null() && steps < 1 << 20 {
                    if *link == dev {
                        *link = (*dev).NextDevice;
                        break;
                    }
                    link = &mut (**link).NextDevice;
                    steps += 1;
                }
            }
            (*dev).NextDevice = null_mut();
        }
        if free_now {
            let d = map.remove(&(dev as usize)).expect("present");
            // SAFETY: allocated by IoCreateDevice with this layout, no references left.
            unsafe { dealloc(dev as *mut u8, Layout::from_size_align_unchecked(d.size, DEVICE_ALIGN)) };
        }
    })
}
