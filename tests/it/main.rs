//! esoutliers' integration tests: one binary. Everything that concerns requests and
//! responses runs against the real local node (`make es-up`, `ES_URL`), each test in its
//! own uniquely named index; snapshot tests of the generated requests need no node.

mod bad_input;
mod cli;
mod faults;
mod harness;
mod metrics;
mod parity;
mod property;
mod review;
mod scale;
mod scenarios;
mod secure;
mod seed;
mod simplequery;
mod snapshots;
mod sudden;
mod tagging;
