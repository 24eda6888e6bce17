//! The end-of-run invariant check, the same for every store: no seat in two acknowledged buys,
//! every seat of an acknowledged buy sold (to that buy, where the store records owners), no sold
//! seat that no buy explains (an indeterminate buy may explain it), and the store's own audit.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::{Audit, FinalState, SeatRef, SeatStatus};

/// A buy as the buyer saw it: the hold bought and its seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub hold: String,
    pub seats: Vec<SeatRef>,
}

/// Every buy of a run: acknowledged, and indeterminate (may or may not have taken effect).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub acknowledged: Vec<Sale>,
    pub indeterminate: Vec<Sale>,
}

impl Ledger {
    pub fn merge(&mut self, other: Ledger) {
        self.acknowledged.extend(other.acknowledged);
        self.indeterminate.extend(other.indeterminate);
    }

    pub fn acknowledged_tickets(&self) -> u64 {
        self.acknowledged.iter().map(|s| s.seats.len() as u64).sum()
    }
}

/// One broken promise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Violation {
    /// A seat in two acknowledged buys.
    Oversold {
        seat: SeatRef,
        first: String,
        second: String,
    },
    /// A seat of an acknowledged buy that does not read as sold at the end.
    LostBuy {
        seat: SeatRef,
        hold: String,
        found: Option<SeatStatus>,
    },
    /// A sold seat whose recorded owner is not the acknowledged buy of it.
    WrongOwner {
        seat: SeatRef,
        expected: String,
        found: String,
    },
    /// A sold seat that no acknowledged or indeterminate buy explains.
    PhantomSale {
        seat: SeatRef,
        owner: Option<String>,
    },
    /// The store's own audit failed.
    AuditFailed(String),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = |s: &SeatRef| format!("event {} seat {}.{}.{}", s.event, s.section, s.row, s.seat);
        match self {
            Violation::Oversold {
                seat,
                first,
                second,
            } => write!(f, "oversold: {} bought by {first} and {second}", at(seat)),
            Violation::LostBuy { seat, hold, found } => {
                write!(f, "lost buy: {} of {hold} reads {found:?}", at(seat))
            }
            Violation::WrongOwner {
                seat,
                expected,
                found,
            } => write!(
                f,
                "wrong owner: {} bought by {expected}, sold to {found}",
                at(seat)
            ),
            Violation::PhantomSale { seat, owner } => {
                write!(f, "phantom sale: {} sold ({owner:?}) by no buy", at(seat))
            }
            Violation::AuditFailed(detail) => write!(f, "store audit failed: {detail}"),
        }
    }
}

/// The check's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub checked_seats: u64,
    pub sold_seats: u64,
    pub acknowledged_tickets: u64,
    /// Seats of indeterminate buys that read as sold (so those buys took effect).
    pub indeterminate_tickets_applied: u64,
    /// The store's audit, when it has one.
    pub audit: Option<Audit>,
    /// Every violation found (the report shows the first few).
    pub violations: Vec<Violation>,
}

impl Verdict {
    pub fn valid(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks `ledger` against the store's `final_state` (and its `audit`, if any).
pub fn check(ledger: &Ledger, final_state: &FinalState, audit: Option<&Audit>) -> Verdict {
    let mut violations = Vec::new();
    let mut bought: HashMap<SeatRef, &str> = HashMap::new();
    for sale in &ledger.acknowledged {
        for seat in &sale.seats {
            if let Some(first) = bought.insert(*seat, &sale.hold) {
                violations.push(Violation::Oversold {
                    seat: *seat,
                    first: first.to_string(),
                    second: sale.hold.clone(),
                });
            }
        }
    }
    let mut maybe: HashMap<SeatRef, Vec<&str>> = HashMap::new();
    for sale in &ledger.indeterminate {
        for seat in &sale.seats {
            maybe.entry(*seat).or_default().push(&sale.hold);
        }
    }
    let mut seen: BTreeMap<SeatRef, SeatStatus> = BTreeMap::new();
    let mut sold_seats = 0;
    let mut indeterminate_tickets_applied = 0;
    for state in &final_state.seats {
        seen.insert(state.seat, state.status);
        let expected = bought.get(&state.seat).copied();
        match (state.status, expected) {
            (SeatStatus::Sold, Some(hold)) => {
                sold_seats += 1;
                if let Some(owner) = &state.owner {
                    if owner != hold {
                        violations.push(Violation::WrongOwner {
                            seat: state.seat,
                            expected: hold.to_string(),
                            found: owner.clone(),
                        });
                    }
                }
            }
            (SeatStatus::Sold, None) => {
                sold_seats += 1;
                let explained = maybe
                    .get(&state.seat)
                    .is_some_and(|holds| match &state.owner {
                        Some(owner) => holds.iter().any(|h| h == owner),
                        None => true,
                    });
                if explained {
                    indeterminate_tickets_applied += 1;
                } else {
                    violations.push(Violation::PhantomSale {
                        seat: state.seat,
                        owner: state.owner.clone(),
                    });
                }
            }
            (status, Some(hold)) => violations.push(Violation::LostBuy {
                seat: state.seat,
                hold: hold.to_string(),
                found: Some(status),
            }),
            (_, None) => {}
        }
    }
    let mut missing: Vec<(SeatRef, &str)> = bought
        .iter()
        .filter(|(seat, _)| !seen.contains_key(seat))
        .map(|(seat, hold)| (*seat, *hold))
        .collect();
    missing.sort_unstable();
    for (seat, hold) in missing {
        violations.push(Violation::LostBuy {
            seat,
            hold: hold.to_string(),
            found: None,
        });
    }
    if let Some(audit) = audit {
        if !audit.ok {
            violations.push(Violation::AuditFailed(audit.detail.clone()));
        }
    }
    Verdict {
        checked_seats: final_state.seats.len() as u64,
        sold_seats,
        acknowledged_tickets: ledger.acknowledged_tickets(),
        indeterminate_tickets_applied,
        audit: audit.cloned(),
        violations,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::SeatState;

    fn seat(n: u16) -> SeatRef {
        SeatRef {
            event: 0,
            section: 0,
            row: 0,
            seat: n,
        }
    }

    fn sale(hold: &str, seats: &[u16]) -> Sale {
        Sale {
            hold: hold.into(),
            seats: seats.iter().map(|&n| seat(n)).collect(),
        }
    }

    /// Seats 0..n, those listed sold to their owner, the rest available.
    fn state(n: u16, sold: &[(u16, Option<&str>)]) -> FinalState {
        FinalState {
            seats: (0..n)
                .map(|i| {
                    let owner = sold.iter().find(|(s, _)| *s == i);
                    SeatState {
                        seat: seat(i),
                        status: if owner.is_some() {
                            SeatStatus::Sold
                        } else {
                            SeatStatus::Available
                        },
                        owner: owner.and_then(|(_, o)| o.map(str::to_string)),
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn a_clean_run_passes() {
        let ledger = Ledger {
            acknowledged: vec![sale("h1", &[0, 1]), sale("h2", &[2])],
            indeterminate: vec![],
        };
        let verdict = check(
            &ledger,
            &state(5, &[(0, Some("h1")), (1, Some("h1")), (2, None)]),
            Some(&Audit {
                ok: true,
                detail: "3 replicas agree".into(),
            }),
        );
        assert!(verdict.valid(), "{:?}", verdict.violations);
        assert_eq!(verdict.sold_seats, 3);
        assert_eq!(verdict.acknowledged_tickets, 3);
        assert_eq!(verdict.checked_seats, 5);
    }

    #[test]
    fn an_oversold_seat_is_flagged() {
        let ledger = Ledger {
            acknowledged: vec![sale("h1", &[0]), sale("h2", &[0])],
            indeterminate: vec![],
        };
        let verdict = check(&ledger, &state(2, &[(0, Some("h2"))]), None);
        assert!(verdict
            .violations
            .iter()
            .any(|v| matches!(v, Violation::Oversold { first, second, .. } if first == "h1" && second == "h2")));
    }

    #[test]
    fn a_lost_buy_is_flagged_whether_the_seat_reads_free_or_is_missing() {
        let ledger = Ledger {
            acknowledged: vec![sale("h1", &[1]), sale("h2", &[9])],
            indeterminate: vec![],
        };
        let verdict = check(&ledger, &state(3, &[]), None);
        assert_eq!(verdict.violations.len(), 2, "{:?}", verdict.violations);
        assert!(verdict.violations.contains(&Violation::LostBuy {
            seat: seat(1),
            hold: "h1".into(),
            found: Some(SeatStatus::Available),
        }));
        assert!(verdict.violations.contains(&Violation::LostBuy {
            seat: seat(9),
            hold: "h2".into(),
            found: None,
        }));
    }

    #[test]
    fn a_phantom_sale_is_flagged_unless_an_indeterminate_buy_explains_it() {
        let none = Ledger::default();
        let verdict = check(&none, &state(3, &[(2, Some("hx"))]), None);
        assert_eq!(
            verdict.violations,
            vec![Violation::PhantomSale {
                seat: seat(2),
                owner: Some("hx".into())
            }]
        );
        let explained = Ledger {
            acknowledged: vec![],
            indeterminate: vec![sale("hx", &[2])],
        };
        let verdict = check(&explained, &state(3, &[(2, Some("hx"))]), None);
        assert!(verdict.valid());
        assert_eq!(verdict.indeterminate_tickets_applied, 1);
        // An indeterminate buy of another hold does not explain it.
        let other = Ledger {
            acknowledged: vec![],
            indeterminate: vec![sale("hy", &[2])],
        };
        assert!(!check(&other, &state(3, &[(2, Some("hx"))]), None).valid());
    }

    #[test]
    fn a_seat_sold_to_another_hold_is_flagged() {
        let ledger = Ledger {
            acknowledged: vec![sale("h1", &[0])],
            indeterminate: vec![],
        };
        let verdict = check(&ledger, &state(1, &[(0, Some("h9"))]), None);
        assert_eq!(
            verdict.violations,
            vec![Violation::WrongOwner {
                seat: seat(0),
                expected: "h1".into(),
                found: "h9".into()
            }]
        );
    }

    #[test]
    fn a_failed_store_audit_is_a_violation() {
        let verdict = check(
            &Ledger::default(),
            &state(1, &[]),
            Some(&Audit {
                ok: false,
                detail: "node 2 group 3: hash differs".into(),
            }),
        );
        assert!(!verdict.valid());
        assert!(verdict.violations[0].to_string().contains("hash differs"));
    }
}
