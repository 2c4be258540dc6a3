//! In-process tests of the sorted-set commands: properties of the random commands and
//! paging, state after the fact. Exact replies are held against redis-server by the
//! differential corpus (`tests/corpus/zsets.redis`).

use crate::commands::testing::{bulk, err, Harness};
use ferrocache_protocol::Reply;
