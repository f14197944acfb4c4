//! TEMPORARY: the kernel routines the provider calls, until kernel/ lands.
use crate::abi::IRP;
extern "C" {
    pub fn IoAcquireCancelSpinLock(irql: *mut u8);
    pub fn IoReleaseCancelSpinLock(irql: u8);
    fn IofCompleteRequest(irp: *mut IRP, boost: i8);
}
pub unsafe fn complete_request(irp: *mut IRP) {
    IofCompleteRequest(irp, 0)
}
