//! wharf-cli
