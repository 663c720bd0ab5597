//! A deterministic, generated corpus of legal-style documents and chunks,
//! the same for every mode so that modes are compared on the same data.

/// Words for generated text.
const WORDS: &[&str] = &[
    "Vertrag",
    "Klausel",
    "Haftung",
    "Gericht",
    "Urteil",
    "Berufung",
    "Kläger",
    "Beklagte",
    "Frist",
    "Schadensersatz",
    "Verordnung",
    "Paragraph",
    "Absatz",
    "Satz",
    "Anspruch",
    "Verjährung",
    "Zuständigkeit",
    "Verwaltung",
    "Bescheid",
    "Widerspruch",
    "Revision",
    "Beschluss",
    "Norm",
];

/// A small deterministic generator (xorshift), seeded per item.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Text of about `words` words.
pub fn text(seed: u64, words: usize) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(words * 10);
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(WORDS[(rng.next() % WORDS.len() as u64) as usize]);
    }
    out
}

/// A unit-length pseudo embedding of `dim` dimensions.
pub fn embedding(seed: u64, dim: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed ^ 0xE5B3_D00D);
    let mut v: Vec<f32> = (0..dim).map(|_| rng.unit() * 2.0 - 1.0).collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// A legal-style JSON document.
pub fn document(i: u64) -> serde_json::Value {
    let court = ["BGH", "BVerwG", "BAG", "BFH"][(i % 4) as usize];
    serde_json::json!({
        "type": "judgment",
        "court": court,
        "year": 1990 + (i % 35),
        "title": format!("Urteil {i}"),
        "text": text(i, 60),
        "legal_terms": [WORDS[(i % 23) as usize], WORDS[((i / 23) % 23) as usize]],
    })
}
