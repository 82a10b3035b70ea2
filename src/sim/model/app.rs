//! The application API: records written and read by canaries through a region.

use super::*;

impl Sim {
    /// The region that serves a request to `region`: that region, or for the
    /// global entry points `us` and `eu`, where the routing sends that
    /// jurisdiction's users now ([`Sim::routed_region`]).
    pub(super) fn app_region(&self, region: &str, key: &str) -> Result<usize, AppError> {
        let ri = match self.region_index(region) {
            Some(ri) => ri,
            None => match Jurisdiction::parse(region) {
                Some(j) => self.routed_region(j, key, region)?,
                None => return Err(AppError::UnknownRegion(region.to_string())),
            },
        };
        if self.regions[ri].desired_weight() == 0.0 || self.regions[ri].partitioned {
            return Err(AppError::Unavailable(self.regions[ri].name.clone()));
        }
        Ok(ri)
    }

    /// Where a user of `j` lands through the global entry point: the current
    /// routing shares of `j` (residency bug included), picked by a hash of the
    /// key, so the same key lands in the same region while routing is unchanged.
    fn routed_region(&self, j: Jurisdiction, key: &str, entry: &str) -> Result<usize, AppError> {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in key.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        // FNV-1a alone barely moves its top bits when only the last
        // character differs (`…-eu-1`, `…-eu-2`), so keys of one run would
        // all land together; murmur3's finalizer spreads every bit.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        let shares = self.route_shares(j);
        let total: f64 = shares.iter().map(|s| s.1).sum();
        let mut pick = (h >> 11) as f64 / (1u64 << 53) as f64 * total;
        for (target, share) in &shares {
            if pick < *share {
                return target.ok_or_else(|| AppError::Unavailable(entry.to_string()));
            }
            pick -= share;
        }
        Err(AppError::Unavailable(entry.to_string()))
    }

    /// Validate an application key: 1-128 characters of `[A-Za-z0-9._:-]`.
    pub fn valid_key(key: &str) -> bool {
        !key.is_empty()
            && key.len() <= 128
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
    }

    /// Write a record in `region` at `t`.
    pub fn app_write(
        &mut self,
        region: &str,
        key: &str,
        value: serde_json::Value,
        jurisdiction: Option<Jurisdiction>,
        t: Millis,
    ) -> Result<WriteAck, AppError> {
        if !Self::valid_key(key) {
            return Err(AppError::Invalid(
                "keys are 1-128 characters of A-Z a-z 0-9 . _ : -".into(),
            ));
        }
        let size = serde_json::to_vec(&value)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_VALUE_BYTES {
            return Err(AppError::Invalid(format!(
                "value is {size} bytes, at most {MAX_VALUE_BYTES} are accepted"
            )));
        }
        self.settle(t);
        let ri = self.app_region(region, key)?;
        let region = self.regions[ri].name.clone();
        let region = region.as_str();
        if self.regions[ri].failing && self.rng.random_bool(0.5) {
            return Err(AppError::Failed(region.to_string()));
        }
        if jurisdiction == Some(Jurisdiction::EU)
            && self.regions[ri].jurisdiction != Jurisdiction::EU
        {
            if self.faults.residency_bug > 0.0 {
                self.counts.residency_violations += 1;
            } else {
                return Err(AppError::Residency(region.to_string()));
            }
        }
        let k: Arc<str> = match self.app_keys.get(key) {
            Some(k) => k.clone(),
            None => {
                if self.app_keys.len() >= MAX_APP_KEYS {
                    return Err(AppError::Full);
                }
                let k: Arc<str> = Arc::from(key);
                self.app_keys.insert(k.clone());
                k
            }
        };
        let rec = self.write(ri, Key::App(k), Some(Arc::new(value)), jurisdiction, t, 2);
        Ok(WriteAck {
            key: key.to_string(),
            region: region.to_string(),
            version: rec.version,
            region_clock: rfc3339(rec.clock),
            written_at: rfc3339(rec.true_time),
        })
    }

    /// Read a record from `region` at `t`.
    pub fn app_read(&mut self, region: &str, key: &str, t: Millis) -> Result<ReadRecord, AppError> {
        if !Self::valid_key(key) {
            return Err(AppError::Invalid(
                "keys are 1-128 characters of A-Z a-z 0-9 . _ : -".into(),
            ));
        }
        self.advance_to(t);
        let ri = self.app_region(region, key)?;
        let region = self.regions[ri].name.clone();
        let region = region.as_str();
        let not_found = || AppError::NotFound {
            region: region.to_string(),
            key: key.to_string(),
        };
        let k = self.app_keys.get(key).cloned().ok_or_else(not_found)?;
        let rec = self.regions[ri]
            .store
            .get(&Key::App(k))
            .ok_or_else(not_found)?;
        Ok(ReadRecord {
            key: key.to_string(),
            region: region.to_string(),
            value: rec
                .value
                .as_deref()
                .cloned()
                .unwrap_or(serde_json::Value::Null),
            version: rec.version,
            origin_region: self.regions[rec.origin].name.clone(),
            region_clock: rfc3339(rec.clock),
            jurisdiction: rec.jurisdiction,
        })
    }

    /// Health of a region as a synthetic monitor sees it.
    pub fn app_health(&mut self, region: &str, t: Millis) -> Result<(), AppError> {
        self.advance_to(t);
        let ri = self.app_region(region, "health")?;
        if self.regions[ri].failing {
            return Err(AppError::Failed(region.to_string()));
        }
        Ok(())
    }
}
