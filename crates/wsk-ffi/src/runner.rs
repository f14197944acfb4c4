//! What `wsk run` calls.
