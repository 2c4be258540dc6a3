//! Ferrocache (skeleton).
