//! The little dense linear algebra a Newton fit needs: a symmetric matrix, its Cholesky factor,
//! solves and the inverse. Sizes are `2·teams + 3`, so plain loops are the right tool.

/// A square matrix, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Matrix {
    n: usize,
    data: Vec<f64>,
}

impl Matrix {
    pub(crate) fn zeros(n: usize) -> Self {
        Matrix {
            n,
            data: vec![0.0; n * n],
        }
    }

    pub(crate) fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.n + j]
    }

    pub(crate) fn add(&mut self, i: usize, j: usize, v: f64) {
        self.data[i * self.n + j] += v;
    }

    /// `self + damping · diag(self)`, the Levenberg–Marquardt damped matrix.
    pub(crate) fn damped(&self, damping: f64) -> Matrix {
        let mut m = self.clone();
        for i in 0..self.n {
            let d = self.get(i, i).abs().max(1e-12);
            m.add(i, i, damping * d);
        }
        m
    }

    /// The lower Cholesky factor `L` with `L Lᵀ = self`, or `None` when the matrix is not
    /// (numerically) positive definite.
    pub(crate) fn cholesky(&self) -> Option<Cholesky> {
        let n = self.n;
        let mut l = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let mut sum = self.get(i, j);
                for k in 0..j {
                    sum -= l[i * n + k] * l[j * n + k];
                }
                if i == j {
                    if sum.is_nan() || sum <= 0.0 || sum.is_infinite() {
                        return None;
                    }
                    l[i * n + i] = sum.sqrt();
                } else {
                    l[i * n + j] = sum / l[j * n + j];
                }
            }
        }
        Some(Cholesky { n, l })
    }
}

/// A Cholesky factorization `A = L Lᵀ`.
#[derive(Debug, Clone)]
pub(crate) struct Cholesky {
    n: usize,
    l: Vec<f64>,
}

impl Cholesky {
    /// Solves `A x = b`.
    pub(crate) fn solve(&self, b: &[f64]) -> Vec<f64> {
        let n = self.n;
        let row = |i: usize| &self.l[i * n..i * n + n];
        // Forward: L y = b.
        let mut y = b.to_vec();
        for i in 0..n {
            let dot: f64 = row(i)[..i].iter().zip(&y[..i]).map(|(l, y)| l * y).sum();
            y[i] = (y[i] - dot) / row(i)[i];
        }
        // Backward: Lᵀ x = y (column i of L is row i of Lᵀ).
        for i in (0..n).rev() {
            let dot: f64 = (i + 1..n).map(|k| self.l[k * n + i] * y[k]).sum();
            y[i] = (y[i] - dot) / row(i)[i];
        }
        y
    }

    /// `A⁻¹`, column by column.
    pub(crate) fn inverse(&self) -> Matrix {
        let n = self.n;
        let mut inv = Matrix::zeros(n);
        let mut e = vec![0.0; n];
        for j in 0..n {
            e.iter_mut().for_each(|x| *x = 0.0);
            e[j] = 1.0;
            for (i, v) in self.solve(&e).into_iter().enumerate() {
                inv.data[i * n + j] = v;
            }
        }
        inv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize) -> Matrix {
        // B Bᵀ + n·I with a deterministic B: symmetric positive definite.
        let b = |i: usize, j: usize| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.4;
        let mut m = Matrix::zeros(n);
        for i in 0..n {
            for j in 0..n {
                let v: f64 = (0..n).map(|k| b(i, k) * b(j, k)).sum();
                m.add(i, j, v + if i == j { n as f64 } else { 0.0 });
            }
        }
        m
    }

    #[test]
    fn solve_and_inverse_invert() {
        let a = spd(9);
        let chol = a.cholesky().unwrap();
        let x: Vec<f64> = (0..9).map(|i| i as f64 - 3.5).collect();
        let b: Vec<f64> = (0..9)
            .map(|i| (0..9).map(|j| a.get(i, j) * x[j]).sum())
            .collect();
        for (got, want) in chol.solve(&b).iter().zip(&x) {
            assert!((got - want).abs() < 1e-10, "{got} vs {want}");
        }
        let inv = chol.inverse();
        for i in 0..9 {
            for j in 0..9 {
                let v: f64 = (0..9).map(|k| a.get(i, k) * inv.get(k, j)).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn indefinite_has_no_factor() {
        let mut m = Matrix::zeros(2);
        m.add(0, 0, 1.0);
        m.add(0, 1, 2.0);
        m.add(1, 0, 2.0);
        m.add(1, 1, 1.0);
        assert!(m.cholesky().is_none());
        assert!(m.damped(10.0).cholesky().is_some());
        let mut nan = Matrix::zeros(1);
        nan.add(0, 0, f64::NAN);
        assert!(nan.cholesky().is_none());
    }
}
