//! The NTSTATUS values libwsk returns to C, as the plain `NTSTATUS` (i32) of the C ABI.
//!
//! The values come from the one table in `wsk_core::status` ([`NtStatus`]); this module
//! only gives them their C spelling.
#![allow(missing_docs)]

use wsk_core::status::NtStatus;

use crate::abi::NTSTATUS;

pub const STATUS_SUCCESS: NTSTATUS = NtStatus::SUCCESS.0;
pub const STATUS_TIMEOUT: NTSTATUS = NtStatus::TIMEOUT.0;
pub const STATUS_PENDING: NTSTATUS = NtStatus::PENDING.0;
pub const STATUS_UNSUCCESSFUL: NTSTATUS = NtStatus::UNSUCCESSFUL.0;
pub const STATUS_INVALID_HANDLE: NTSTATUS = NtStatus::INVALID_HANDLE.0;
pub const STATUS_INVALID_PARAMETER: NTSTATUS = NtStatus::INVALID_PARAMETER.0;
pub const STATUS_MORE_PROCESSING_REQUIRED: NTSTATUS = NtStatus::MORE_PROCESSING_REQUIRED.0;
pub const STATUS_OBJECT_TYPE_MISMATCH: NTSTATUS = NtStatus::OBJECT_TYPE_MISMATCH.0;
pub const STATUS_OBJECT_NAME_COLLISION: NTSTATUS = NtStatus::OBJECT_NAME_COLLISION.0;
pub const STATUS_INSUFFICIENT_RESOURCES: NTSTATUS = NtStatus::INSUFFICIENT_RESOURCES.0;
pub const STATUS_CANCELLED: NTSTATUS = NtStatus::CANCELLED.0;
pub const STATUS_NOT_SUPPORTED: NTSTATUS = NtStatus::NOT_SUPPORTED.0;
pub const STATUS_NOT_IMPLEMENTED: NTSTATUS = NtStatus::NOT_IMPLEMENTED.0;
pub const STATUS_BUFFER_OVERFLOW: NTSTATUS = NtStatus::BUFFER_OVERFLOW.0;
pub const STATUS_BUFFER_TOO_SMALL: NTSTATUS = NtStatus::BUFFER_TOO_SMALL.0;
pub const STATUS_DATA_NOT_ACCEPTED: NTSTATUS = NtStatus::DATA_NOT_ACCEPTED.0;
pub const STATUS_REQUEST_NOT_ACCEPTED: NTSTATUS = NtStatus::REQUEST_NOT_ACCEPTED.0;
pub const STATUS_INVALID_DEVICE_REQUEST: NTSTATUS = NtStatus::INVALID_DEVICE_REQUEST.0;
pub const STATUS_DEVICE_NOT_READY: NTSTATUS = NtStatus::DEVICE_NOT_READY.0;
pub const STATUS_INTERNAL_ERROR: NTSTATUS = NtStatus::INTERNAL_ERROR.0;
pub const STATUS_EVENT_PENDING: NTSTATUS = NtStatus::EVENT_PENDING.0;
/// `STATUS_WAIT_0`: the first object of a wait satisfied it (the same value as success).
pub const STATUS_WAIT_0: NTSTATUS = STATUS_SUCCESS;

/// `NT_SUCCESS(status)`.
#[inline]
pub const fn nt_success(status: NTSTATUS) -> bool {
    status >= 0
}
