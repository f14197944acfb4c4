//! The WSK provider over the Rust provider.
