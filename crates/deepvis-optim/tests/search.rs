//! Random search: reproducible, valid, varied trials; shards partition them.

use deepvis_optim::params::LrPolicy;
use deepvis_optim::search::{in_shard, sample_params};

#[test]
fn trials_are_reproducible_valid_and_varied() {
    let a = sample_params(7, 100);
    assert_eq!(a, sample_params(7, 100));
    assert_ne!(a, sample_params(8, 100));
    let mut policies = [0; 2];
    for t in 0..200 {
        let p = sample_params(t, 50);
        p.validate().unwrap();
        policies[(p.lr_policy == LrPolicy::Progress) as usize] += 1;
    }
    assert!(policies[0] > 50 && policies[1] > 50);
}

#[test]
fn shards_partition_the_trials() {
    for t in 0..30u64 {
        let owners = (0..4).filter(|&i| in_shard(t, i, 4)).count();
        assert_eq!(owners, 1);
    }
}
