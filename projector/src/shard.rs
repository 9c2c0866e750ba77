//! Splitting the tenants over several projectors: `shard = "2/4"` holds the tenants whose
//! stable hash falls in the second of four parts. Every projector reads both streams whole
//! (JetStream subjects cannot select by a hash), folds only its own tenants' events, and its
//! API refuses the others with the shard that holds them. The hash is FNV-1a (64 bits) of the
//! tenant's name: fixed here and by the tests below, since changing it would move tenants
//! between shards and leave their views behind.

use std::fmt;
use std::str::FromStr;

/// One part of the tenants: `index` of `count`, counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// The most shards a deployment may split its tenants into.
pub const MAX_SHARDS: u32 = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shard {0:?}: expected \"INDEX/COUNT\" with 1 <= INDEX <= COUNT <= {MAX_SHARDS}, e.g. \"1/4\"")]
pub struct BadShard(pub String);

impl Shard {
    pub fn new(index: u32, count: u32) -> Result<Self, BadShard> {
        if count == 0 || count > MAX_SHARDS || index == 0 || index > count {
            return Err(BadShard(format!("{index}/{count}")));
        }
        Ok(Shard { index, count })
    }

    /// The shard (1-based) that holds `tenant` when the tenants are split `count` ways.
    pub fn index_of(tenant: &str, count: u32) -> u32 {
        (fnv1a64(tenant.as_bytes()) % u64::from(count.max(1))) as u32 + 1
    }

    /// The shard that holds `tenant` in this shard's split.
    pub fn owner_of(&self, tenant: &str) -> Shard {
        Shard { index: Self::index_of(tenant, self.count), count: self.count }
    }

    pub fn holds(&self, tenant: &str) -> bool {
        Self::index_of(tenant, self.count) == self.index
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = BadShard;

    fn from_str(s: &str) -> Result<Self, BadShard> {
        let bad = || BadShard(s.to_owned());
        let (index, count) = s.trim().split_once('/').ok_or_else(bad)?;
        Shard::new(index.trim().parse().map_err(|_| bad())?, count.trim().parse().map_err(|_| bad())?)
            .map_err(|_| bad())
    }
}

impl TryFrom<String> for Shard {
    type Error = BadShard;

    fn try_from(s: String) -> Result<Self, BadShard> {
        s.parse()
    }
}

impl<'de> serde::Deserialize<'de> for Shard {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_what_cannot_be() {
        assert_eq!("1/4".parse::<Shard>().unwrap().to_string(), "1/4");
        assert_eq!(" 4 / 4 ".parse::<Shard>().unwrap(), Shard::new(4, 4).unwrap());
        for bad in ["0/4", "5/4", "1/0", "1", "a/b", "1/2000", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert!("0/4".parse::<Shard>().unwrap_err().to_string().contains("INDEX/COUNT"));
    }

    #[test]
    fn the_hash_is_fixed() {
        // FNV-1a 64 reference values: if these change, tenants move between shards.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(Shard::index_of("default", 1), 1);
    }

    #[test]
    fn every_tenant_has_exactly_one_shard_and_the_split_is_even_enough() {
        let shards: Vec<Shard> = (1..=4).map(|i| Shard::new(i, 4).unwrap()).collect();
        let mut per_shard = [0usize; 4];
        for n in 0..4000 {
            let tenant = format!("tenant-{n}");
            let holders: Vec<&Shard> = shards.iter().filter(|s| s.holds(&tenant)).collect();
            assert_eq!(holders.len(), 1, "{tenant}");
            assert_eq!(shards[0].owner_of(&tenant), *holders[0]);
            per_shard[holders[0].index as usize - 1] += 1;
        }
        assert!(per_shard.iter().all(|&n| (800..=1200).contains(&n)), "{per_shard:?}");
    }
}
