//! wharf-types
