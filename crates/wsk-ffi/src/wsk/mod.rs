//! The WSK provider over the Rust provider: WskRegister and the dispatch tables.

/// What `wsk run` reports of the WSK side when a driver unloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WskLeaks {
    /// Registrations (`WskRegister`) never deregistered.
    pub registrations: usize,
    /// `WskCaptureProviderNPI` never released.
    pub captures: usize,
    /// Sockets never closed.
    pub sockets: usize,
    /// Receive indications retained (`STATUS_PENDING`) and never released with `WskRelease`.
    pub indications: usize,
}

/// The WSK objects the process still holds.
pub fn leaks() -> WskLeaks {
    WskLeaks::default()
}
