//! The simulated day: the real actors on a virtual clock over real grid data.

pub mod virtual_day;
