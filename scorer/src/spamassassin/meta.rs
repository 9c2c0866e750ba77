//! `meta` rules: Perl-like expressions over other rules' hit counts (`A && !B`,
//! `(A + B + C) > 1`, `A || B * 2 >= 3`). Parsed once into a tree; evaluated with each
//! rule's hit count (0 when it did not hit). The engine resolves the names to rule indexes
//! once ([`Expr::resolve`]), so a message's evaluation looks nothing up by name.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetaError {
    #[error("meta expression: unexpected {0:?}")]
    Unexpected(String),
    #[error("meta expression: ends too early")]
    Truncated,
}

/// A meta expression; its leaves name rules (`L` = the name as written, or what the
/// engine resolved it to).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr<L = String> {
    Rule(L),
    Number(f64),
    Not(Box<Expr<L>>),
    Neg(Box<Expr<L>>),
    Binary(Op, Box<Expr<L>>, Box<Expr<L>>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl Op {
    /// Perl's precedence, higher binds tighter.
    fn precedence(self) -> u8 {
        match self {
            Op::Or => 1,
            Op::And => 2,
            Op::Eq | Op::Ne => 3,
            Op::Lt | Op::Le | Op::Gt | Op::Ge => 4,
            Op::Add | Op::Sub => 5,
            Op::Mul | Op::Div => 6,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Number(f64),
    Op(Op),
    Not,
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Token>, MetaError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let two = |a: char, b: char| c == a && next == Some(b);
        let (token, len) = if c.is_whitespace() {
            i += 1;
            continue;
        } else if two('&', '&') {
            (Token::Op(Op::And), 2)
        } else if two('|', '|') {
            (Token::Op(Op::Or), 2)
        } else if two('=', '=') {
            (Token::Op(Op::Eq), 2)
        } else if two('!', '=') {
            (Token::Op(Op::Ne), 2)
        } else if two('<', '=') {
            (Token::Op(Op::Le), 2)
        } else if two('>', '=') {
            (Token::Op(Op::Ge), 2)
        } else if c == '<' {
            (Token::Op(Op::Lt), 1)
        } else if c == '>' {
            (Token::Op(Op::Gt), 1)
        } else if c == '+' {
            (Token::Op(Op::Add), 1)
        } else if c == '-' {
            (Token::Op(Op::Sub), 1)
        } else if c == '*' {
            (Token::Op(Op::Mul), 1)
        } else if c == '/' {
            (Token::Op(Op::Div), 1)
        } else if c == '!' {
            (Token::Not, 1)
        } else if c == '(' {
            (Token::Open, 1)
        } else if c == ')' {
            (Token::Close, 1)
        } else if c.is_ascii_digit() || c == '.' {
            let len = chars[i..].iter().take_while(|c| c.is_ascii_digit() || **c == '.').count();
            let text: String = chars[i..i + len].iter().collect();
            (Token::Number(text.parse().map_err(|_| MetaError::Unexpected(text))?), len)
        } else if c.is_ascii_alphabetic() || c == '_' {
            let len = chars[i..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '_').count();
            (Token::Name(chars[i..i + len].iter().collect()), len)
        } else {
            return Err(MetaError::Unexpected(c.to_string()));
        };
        out.push(token);
        i += len;
    }
    Ok(out)
}

pub fn parse(text: &str) -> Result<Expr, MetaError> {
    let tokens = tokens(text)?;
    let mut pos = 0;
    let expr = parse_binary(&tokens, &mut pos, 0)?;
    match tokens.get(pos) {
        None => Ok(expr),
        Some(t) => Err(MetaError::Unexpected(format!("{t:?}"))),
    }
}

fn parse_binary(t: &[Token], pos: &mut usize, min: u8) -> Result<Expr, MetaError> {
    let mut left = parse_unary(t, pos)?;
    while let Some(Token::Op(op)) = t.get(*pos) {
        // Left-associative: an operator binds here only if tighter than the caller's.
        if op.precedence() <= min {
            break;
        }
        let op = *op;
        *pos += 1;
        let right = parse_binary(t, pos, op.precedence())?;
        left = Expr::Binary(op, Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn parse_unary(t: &[Token], pos: &mut usize) -> Result<Expr, MetaError> {
    let token = t.get(*pos).ok_or(MetaError::Truncated)?;
    *pos += 1;
    match token {
        Token::Not => Ok(Expr::Not(Box::new(parse_unary(t, pos)?))),
        Token::Op(Op::Sub) => Ok(Expr::Neg(Box::new(parse_unary(t, pos)?))),
        Token::Name(n) => Ok(Expr::Rule(n.clone())),
        Token::Number(n) => Ok(Expr::Number(*n)),
        Token::Open => {
            let e = parse_binary(t, pos, 0)?;
            match t.get(*pos) {
                Some(Token::Close) => {
                    *pos += 1;
                    Ok(e)
                }
                Some(other) => Err(MetaError::Unexpected(format!("{other:?}"))),
                None => Err(MetaError::Truncated),
            }
        }
        other => Err(MetaError::Unexpected(format!("{other:?}"))),
    }
}

impl<L: Clone> Expr<L> {
    /// The rules the expression reads.
    pub fn names(&self, out: &mut Vec<L>) {
        match self {
            Expr::Rule(n) => out.push(n.clone()),
            Expr::Number(_) => {}
            Expr::Not(e) | Expr::Neg(e) => e.names(out),
            Expr::Binary(_, a, b) => {
                a.names(out);
                b.names(out);
            }
        }
    }

    /// The same expression with every leaf mapped (a name to a rule index, say).
    pub fn resolve<M>(&self, map: &impl Fn(&L) -> M) -> Expr<M> {
        match self {
            Expr::Rule(n) => Expr::Rule(map(n)),
            Expr::Number(n) => Expr::Number(*n),
            Expr::Not(e) => Expr::Not(Box::new(e.resolve(map))),
            Expr::Neg(e) => Expr::Neg(Box::new(e.resolve(map))),
            Expr::Binary(op, a, b) => Expr::Binary(*op, Box::new(a.resolve(map)), Box::new(b.resolve(map))),
        }
    }

    /// The same truth value with each `&&` / `||` chain's operands that are not `costly`
    /// first (the costly ones after them, in their written order), so that short-circuiting
    /// skips the dear ones more often; and whether the expression has a costly leaf. Chains
    /// are reordered only where the expression is read as true or false (the whole, the
    /// operand of `!`, a chain's operands there): inside arithmetic or a comparison the order
    /// stays, since `A || B` is A's value when A is true and a count is more than a truth
    /// value.
    pub fn cheapest_first(&self, costly: &dyn Fn(&L) -> bool) -> (Expr<L>, bool) {
        self.reordered(costly, true)
    }

    fn reordered(&self, costly: &dyn Fn(&L) -> bool, truth_only: bool) -> (Expr<L>, bool) {
        match self {
            Expr::Rule(leaf) => (Expr::Rule(leaf.clone()), costly(leaf)),
            Expr::Number(n) => (Expr::Number(*n), false),
            Expr::Not(e) => {
                let (e, c) = e.reordered(costly, true);
                (Expr::Not(Box::new(e)), c)
            }
            Expr::Neg(e) => {
                let (e, c) = e.reordered(costly, false);
                (Expr::Neg(Box::new(e)), c)
            }
            Expr::Binary(op @ (Op::And | Op::Or), _, _) if truth_only => {
                let mut operands = Vec::new();
                self.chain(*op, &mut operands);
                let mut reordered: Vec<(Expr<L>, bool)> = operands.iter().map(|e| e.reordered(costly, true)).collect();
                // Operands whose outcome is known before any meta is counted go first; the
                // others keep SpamAssassin's order among themselves (its rule writers put
                // the rare condition first, and it fails the chain most often).
                reordered.sort_by_key(|(_, c)| *c);
                let any_costly = reordered.iter().any(|(_, c)| *c);
                let mut operands = reordered.into_iter().map(|(e, _)| e);
                let first = operands.next().expect("a chain has two operands or more");
                (operands.fold(first, |chain, e| Expr::Binary(*op, Box::new(chain), Box::new(e))), any_costly)
            }
            Expr::Binary(op, a, b) => {
                let (a, ca) = a.reordered(costly, false);
                let (b, cb) = b.reordered(costly, false);
                (Expr::Binary(*op, Box::new(a), Box::new(b)), ca || cb)
            }
        }
    }

    /// The operands of a chain of `op` (`A && B && C`: A, B, C), left to right.
    fn chain<'e>(&'e self, op: Op, out: &mut Vec<&'e Expr<L>>) {
        match self {
            Expr::Binary(o, a, b) if *o == op => {
                a.chain(op, out);
                b.chain(op, out);
            }
            _ => out.push(self),
        }
    }

    /// Evaluates with `value(leaf)` giving a rule's hit count.
    pub fn eval(&self, value: &mut dyn FnMut(&L) -> f64) -> f64 {
        let truth = |b: bool| if b { 1.0 } else { 0.0 };
        match self {
            Expr::Rule(n) => value(n),
            Expr::Number(n) => *n,
            Expr::Not(e) => truth(e.eval(value) == 0.0),
            Expr::Neg(e) => -e.eval(value),
            Expr::Binary(op, a, b) => {
                let x = a.eval(value);
                // Perl short-circuits && and ||.
                match op {
                    Op::And if x == 0.0 => return 0.0,
                    Op::Or if x != 0.0 => return x,
                    _ => {}
                }
                let y = b.eval(value);
                match op {
                    Op::And | Op::Or => y,
                    Op::Eq => truth(x == y),
                    Op::Ne => truth(x != y),
                    Op::Lt => truth(x < y),
                    Op::Le => truth(x <= y),
                    Op::Gt => truth(x > y),
                    Op::Ge => truth(x >= y),
                    Op::Add => x + y,
                    Op::Sub => x - y,
                    Op::Mul => x * y,
                    Op::Div if y == 0.0 => 0.0,
                    Op::Div => x / y,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, hits: &[(&str, f64)]) -> f64 {
        parse(text).unwrap().eval(&mut |n: &String| hits.iter().find(|(h, _)| h == n).map_or(0.0, |(_, v)| *v))
    }

    #[test]
    fn precedence_and_values() {
        assert_eq!(eval("A && !B", &[("A", 1.0)]), 1.0);
        assert_eq!(eval("A && !B", &[("A", 1.0), ("B", 1.0)]), 0.0);
        assert_eq!(eval("(A + B + C) > 1", &[("A", 1.0), ("C", 1.0)]), 1.0);
        assert_eq!(eval("A + B + C > 2", &[("A", 1.0), ("C", 1.0)]), 0.0);
        assert_eq!(eval("A || B && C", &[("B", 1.0)]), 0.0, "&& binds tighter than ||");
        assert_eq!(eval("A || B && C", &[("A", 1.0)]), 1.0);
        assert_eq!(eval("A - B * 2 >= 1", &[("A", 3.0), ("B", 1.0)]), 1.0);
        assert_eq!(eval("!(A || B)", &[]), 1.0);
        assert_eq!(eval("__X_1 >= 2", &[("__X_1", 2.0)]), 1.0);
        let mut names = Vec::new();
        parse("A && (B || !C_2)").unwrap().names(&mut names);
        assert_eq!(names, vec!["A", "B", "C_2"]);
        let resolved = parse("A && !B").unwrap().resolve(&|n: &String| if n == "A" { Some(0) } else { None });
        let counts = [1.0];
        assert_eq!(resolved.eval(&mut |i: &Option<usize>| i.map_or(0.0, |i| counts[i])), 1.0);
        assert!(parse("A &&").is_err());
        // Cheaper operands first where only truth is read; the value elsewhere kept.
        let cost = |n: &String| n.starts_with("__DEAR");
        let (e, c) = parse("__DEAR_1 && A && !(__DEAR_2 || B)").unwrap().cheapest_first(&cost);
        assert!(c, "a costly leaf makes the whole costly");
        assert!(!parse("A && !(B || 2 > C)").unwrap().cheapest_first(&cost).1, "none costly");
        let mut order = Vec::new();
        e.names(&mut order);
        assert_eq!(order, vec!["A", "__DEAR_1", "B", "__DEAR_2"], "ties keep their order");
        let (e, _) = parse("(__DEAR_1 || A) + B > 1").unwrap().cheapest_first(&cost);
        let mut order = Vec::new();
        e.names(&mut order);
        assert_eq!(order, vec!["__DEAR_1", "A", "B"], "a chain inside arithmetic keeps its order");
        for hits in [
            &[][..],
            &[("A", 1.0)],
            &[("__DEAR_1", 2.0), ("A", 1.0)],
            &[("__DEAR_2", 1.0), ("A", 1.0), ("__DEAR_1", 1.0)],
        ] {
            for text in ["__DEAR_1 && A && !(__DEAR_2 || B)", "(__DEAR_1 || A) + B > 1", "__DEAR_1 || A || B"] {
                let e = parse(text).unwrap();
                let value =
                    |e: &Expr| e.eval(&mut |n: &String| hits.iter().find(|(h, _)| h == n).map_or(0.0, |(_, v)| *v));
                assert_eq!(value(&e) != 0.0, value(&e.cheapest_first(&cost).0) != 0.0, "{text} {hits:?}");
            }
        }
        assert!(parse("A $ B").is_err());
        assert!(parse("(A").is_err());
    }
}
