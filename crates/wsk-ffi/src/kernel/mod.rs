//! The kernel subset (filled in by the kernel work).
