//! wharf-image
