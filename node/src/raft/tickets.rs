//! Ticketing commands as a Raft entry carries them: encoded once, by the proposer that packs them.
//!
//! The leader's log, its appends to every follower and each follower's log copy these bytes as they
//! are; only applying an entry decodes its commands, once on each replica. Were the entry to carry
//! the commands themselves, the leader would encode them once for its log and once for each
//! follower, and each follower would decode and re-encode them before applying.

use boxoffice_statemachine::codec::{self, CodecError};
use boxoffice_statemachine::Command;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Ticketing commands, each encoded with postcard and laid end to end, in the order they apply.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodedTickets {
    count: u32,
    commands: Bytes,
}

impl EncodedTickets {
    /// `commands`, encoded.
    pub fn encode(commands: &[Command]) -> EncodedTickets {
        let mut builder = TicketsBuilder::default();
        for command in commands {
            builder.push(command);
        }
        builder.finish()
    }

    /// How many commands the entry carries.
    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// The commands; corrupt bytes (from a disk or a peer) are an error, never a panic.
    pub fn decode(&self) -> Result<Vec<Command>, CodecError> {
        let mut rest: &[u8] = &self.commands;
        // A corrupt count must not reserve more than the bytes could hold (a command takes more
        // than one byte).
        let mut commands = Vec::with_capacity(self.count().min(rest.len()));
        for _ in 0..self.count {
            let (command, after) = postcard::take_from_bytes::<Command>(rest)
                .map_err(|e| CodecError::Malformed(e.to_string()))?;
            commands.push(command);
            rest = after;
        }
        if !rest.is_empty() {
            return Err(CodecError::Malformed(format!(
                "{} bytes after the last of {} ticketing commands",
                rest.len(),
                self.count
            )));
        }
        Ok(commands)
    }
}

impl std::fmt::Debug for EncodedTickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ticketing command(s) in {} bytes",
            self.count,
            self.commands.len()
        )
    }
}

/// Encodes commands one at a time, so that a proposer can bound an entry by its encoded size.
#[derive(Debug, Default)]
pub struct TicketsBuilder {
    count: u32,
    commands: Vec<u8>,
}

impl TicketsBuilder {
    /// Appends `command`.
    pub fn push(&mut self, command: &Command) {
        self.commands = codec::append(command, std::mem::take(&mut self.commands));
        self.count += 1;
    }

    /// Commands pushed so far.
    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// Their encoded size, in bytes.
    pub fn bytes(&self) -> usize {
        self.commands.len()
    }

    /// The entry's commands, in the order they were pushed.
    pub fn finish(self) -> EncodedTickets {
        EncodedTickets {
            count: self.count,
            commands: Bytes::from(self.commands),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_statemachine::{Action, RequestId};

    fn commands(n: u64) -> Vec<Command> {
        (0..n)
            .map(|i| Command {
                request_id: RequestId::new(format!("request-{i}")).unwrap(),
                at_ms: 1_000 + i,
                action: Action::Expire {
                    holds_max: 10 + i as u32,
                },
            })
            .collect()
    }

    #[test]
    fn commands_come_back_as_they_went_in_and_through_an_entry_encoding() {
        for n in [0, 1, 7] {
            let encoded = EncodedTickets::encode(&commands(n));
            assert_eq!(encoded.count(), n as usize);
            assert_eq!(encoded.decode().unwrap(), commands(n));
            let bytes = crate::raft::encode(&encoded);
            let decoded: EncodedTickets = crate::raft::decode(&bytes).unwrap();
            assert_eq!(decoded, encoded);
        }
    }

    #[test]
    fn corrupt_bytes_are_an_error() {
        let encoded = EncodedTickets::encode(&commands(3));
        let mut short = encoded.clone();
        short.commands = encoded.commands.slice(..encoded.commands.len() - 1);
        assert!(short.decode().is_err(), "a truncated last command");
        let mut counted_high = encoded.clone();
        counted_high.count = u32::MAX;
        assert!(
            counted_high.decode().is_err(),
            "more commands counted than carried"
        );
        let mut counted_low = encoded;
        counted_low.count = 2;
        assert!(
            counted_low.decode().is_err(),
            "bytes after the counted commands"
        );
    }
}
