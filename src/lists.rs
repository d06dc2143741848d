//! Look-ups in neighbour lists, the one primitive of the list-based measures: where (in which
//! column) a given item sits in a given row's list. Pure loops over `k`-long rows, in parallel;
//! O(entries * k) work, no allocation beyond the output.

use rayon::prelude::*;

use crate::error::{invalid, try_vec, Result};

/// For each entry t: the column of `values[t]` in row `rows[t]` of `lists` (`n x k`,
/// row-major), or -1 when it is not there (the first match when a row repeats a value).
///
/// Errors: `rows` and `values` of different lengths, a row index outside `0..n`.
pub fn find_in_rows(lists: &[i64], k: usize, rows: &[i64], values: &[i64]) -> Result<Vec<i64>> {
    if rows.len() != values.len() {
        return Err(invalid!(
            "rows and values must have the same length, got {} and {}",
            rows.len(),
            values.len()
        ));
    }
    let n = lists.len().checked_div(k).unwrap_or(0);
    if n * k != lists.len() {
        return Err(invalid!(
            "lists hold {} entries, not a multiple of k = {k}",
            lists.len()
        ));
    }
    if let Some(t) = rows.iter().position(|&r| r < 0 || r as u64 >= n as u64) {
        return Err(invalid!(
            "entry {t} names row {}, outside 0..{n} (the rows of the lists)",
            rows[t]
        ));
    }
    let mut out = try_vec(rows.len(), -1i64, "the look-up results")?;
    out.par_chunks_mut(4096)
        .zip(rows.par_chunks(4096).zip(values.par_chunks(4096)))
        .for_each(|(o, (r, v))| {
            for ((o, &r), &v) in o.iter_mut().zip(r).zip(v) {
                let row = &lists[r as usize * k..(r as usize + 1) * k];
                if let Some(c) = row.iter().position(|&x| x == v) {
                    *o = c as i64;
                }
            }
        });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_columns_and_reports_misses() {
        let lists = [3, 1, 2, 0, 2, 1];
        let got = find_in_rows(&lists, 3, &[0, 0, 1, 1], &[2, 0, 0, 5]).unwrap();
        assert_eq!(got, vec![2, -1, 0, -1]);
        assert!(find_in_rows(&lists, 3, &[2], &[0]).is_err());
        assert!(find_in_rows(&lists, 3, &[0], &[]).is_err());
        assert!(find_in_rows(&lists, 4, &[0], &[0]).is_err());
    }
}
