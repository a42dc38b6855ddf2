//! Integration tests against real clusters.
