//! The iptables rules of a fault, as argument lists, and the reading of
//! their counters. Each fault has a chain of its own (`TF-<id>`), jumped
//! to from `OUTPUT` for each of its receivers, so removing it touches no
//! other fault's rules.

use std::net::Ipv4Addr;

use tf_core::fault::LinkFault;

use crate::Counters;

/// The fault's chain.
pub fn chain(id: u16) -> String {
    format!("TF-{id}")
}

/// The iptables invocations (arguments after `iptables`) that put fault
/// `id` in force for packets to `to`, in order: the chain and its rules
/// first, the jumps to it last, so no packet meets half a fault.
pub fn apply(id: u16, to: &[Ipv4Addr], fault: &LinkFault) -> Vec<Vec<String>> {
    let chain = chain(id);
    let mut commands = vec![args(&["-N", &chain])];
    let rule = |extra: &[&str]| {
        let mut rule = args(&["-A", &chain]);
        rule.extend(args(extra));
        rule
    };
    if fault.is_cut() {
        commands.push(rule(&["-j", "DROP"]));
    } else {
        if fault.loss > 0.0 {
            commands.push(rule(&[
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &probability(fault.loss),
                "-j",
                "DROP",
            ]));
        }
        if fault.duplicate > 0.0 {
            for receiver in to {
                commands.push(rule(&[
                    "-d",
                    &receiver.to_string(),
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &probability(fault.duplicate),
                    "-j",
                    "TEE",
                    "--gateway",
                    &receiver.to_string(),
                ]));
            }
        }
        if fault.holds_packets() {
            commands.push(rule(&[
                "-j",
                "NFQUEUE",
                "--queue-num",
                &id.to_string(),
                "--queue-bypass",
            ]));
        }
    }
    for receiver in to {
        commands.push(args(&[
            "-I",
            "OUTPUT",
            "-d",
            &receiver.to_string(),
            "-j",
            &chain,
        ]));
    }
    commands
}

/// The invocations that remove fault `id`: the jumps first, then the
/// chain. Each may fail harmlessly when a part is gone already.
pub fn remove(id: u16, to: &[Ipv4Addr]) -> Vec<Vec<String>> {
    let chain = chain(id);
    let mut commands: Vec<Vec<String>> = to
        .iter()
        .map(|receiver| args(&["-D", "OUTPUT", "-d", &receiver.to_string(), "-j", &chain]))
        .collect();
    commands.push(args(&["-F", &chain]));
    commands.push(args(&["-X", &chain]));
    commands
}

/// The invocations that fence the namespace off `subnet` (a CIDR such as
/// `10.1.0.0/16`, checked): the first finds whether the fence is up, the
/// second puts it up. What goes to the subnet from an address outside it
/// is dropped, so only a node on that network (whose packets there leave
/// from its address on it) reaches it. The rule is in the `mangle` table,
/// which packets meet before `filter`: a fault's delay line hands its
/// packets back accepted, which skips the rest of `filter`'s `OUTPUT`.
pub fn fence(subnet: &str) -> Result<[Vec<String>; 2], String> {
    let (address, bits) = subnet
        .split_once('/')
        .ok_or_else(|| format!("`{subnet}` is not a subnet (an address/length, as 10.1.0.0/16)"))?;
    let valid = address.parse::<Ipv4Addr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 32);
    if !valid {
        return Err(format!(
            "`{subnet}` is not a subnet (an address/length, as 10.1.0.0/16)"
        ));
    }
    let rule = ["OUTPUT", "-d", subnet, "!", "-s", subnet, "-j", "DROP"];
    let with = |action: &str| {
        let mut command = args(&["-t", "mangle", action]);
        command.extend(args(&rule));
        command
    };
    Ok([with("-C"), with("-I")])
}

/// The invocation that lists every chain with exact counters, read at
/// once so that the counters agree with each other.
pub fn list() -> Vec<String> {
    args(&["-L", "-v", "-x", "-n"])
}

/// The counters of fault `id` from a listing of every chain: its jumps in
/// `OUTPUT` (every packet to its receivers) and its own chain's rules.
pub fn counters(id: u16, listing: &str) -> Counters {
    let chain = chain(id);
    let section = |name: &str| -> String {
        let header = format!("Chain {name} ");
        listing
            .split_inclusive('\n')
            .skip_while(|line| !line.starts_with(&header))
            .skip(1)
            .take_while(|line| !line.starts_with("Chain "))
            .collect()
    };
    let (output, own) = (section("OUTPUT"), section(&chain));
    let mut counters = Counters::default();
    for (packets, target) in rows(&output) {
        if target == chain {
            counters.packets += packets;
        }
    }
    for (packets, target) in rows(&own) {
        match target {
            "DROP" => counters.dropped += packets,
            "TEE" => counters.duplicated += packets,
            "NFQUEUE" => counters.delayed += packets,
            _ => {}
        }
    }
    counters
}

/// `(packets, target)` of each rule row of an `iptables -L -v -x -n`
/// listing.
fn rows(listing: &str) -> impl Iterator<Item = (u64, &str)> {
    listing.lines().filter_map(|line| {
        let mut fields = line.split_whitespace();
        let packets = fields.next()?.parse().ok()?;
        let _bytes = fields.next()?;
        Some((packets, fields.next()?))
    })
}

fn probability(percent: f64) -> String {
    format!("{:.6}", (percent / 100.0).clamp(0.0, 1.0))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const TO: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)];

    fn joined(commands: &[Vec<String>]) -> Vec<String> {
        commands.iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn a_cut_drops_everything_and_the_jumps_come_last() {
        let commands = joined(&apply(7, &TO, &LinkFault::cut()));
        assert_eq!(
            commands,
            [
                "-N TF-7",
                "-A TF-7 -j DROP",
                "-I OUTPUT -d 10.0.0.2 -j TF-7",
                "-I OUTPUT -d 10.0.0.3 -j TF-7",
            ]
        );
    }

    #[test]
    fn a_slow_lossy_link_drops_at_random_then_queues() {
        let fault = LinkFault::delay(Duration::from_millis(50))
            .loss(5.0)
            .duplicate(1.0);
        let commands = joined(&apply(3, &TO[..1], &fault));
        assert_eq!(
            commands,
            [
                "-N TF-3",
                "-A TF-3 -m statistic --mode random --probability 0.050000 -j DROP",
                "-A TF-3 -d 10.0.0.2 -m statistic --mode random --probability 0.010000 -j TEE --gateway 10.0.0.2",
                "-A TF-3 -j NFQUEUE --queue-num 3 --queue-bypass",
                "-I OUTPUT -d 10.0.0.2 -j TF-3",
            ]
        );
        // A loss alone needs no queue.
        let commands = joined(&apply(3, &TO[..1], &LinkFault::default().loss(5.0)));
        assert!(
            commands.iter().all(|c| !c.contains("NFQUEUE")),
            "{commands:?}"
        );
    }

    #[test]
    fn removal_takes_the_jumps_then_the_chain() {
        assert_eq!(
            joined(&remove(3, &TO[..1])),
            ["-D OUTPUT -d 10.0.0.2 -j TF-3", "-F TF-3", "-X TF-3"]
        );
    }

    #[test]
    fn a_fence_drops_what_goes_to_the_subnet_from_outside_it() {
        let [check, put] = fence("172.20.0.0/16").unwrap();
        assert_eq!(
            [check.join(" "), put.join(" ")],
            [
                "-t mangle -C OUTPUT -d 172.20.0.0/16 ! -s 172.20.0.0/16 -j DROP",
                "-t mangle -I OUTPUT -d 172.20.0.0/16 ! -s 172.20.0.0/16 -j DROP",
            ]
        );
        for bad in ["172.20.0.0", "172.20.0.0/33", "node-0/16", "-j ACCEPT"] {
            let error = fence(bad).unwrap_err();
            assert!(error.contains("is not a subnet"), "{bad}: {error}");
        }
    }

    #[test]
    fn counters_are_read_from_the_listings() {
        let listing = "Chain INPUT (policy ACCEPT 5 packets, 500 bytes)
    pkts      bytes target     prot opt in     out     source               destination
       7      700 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0

Chain OUTPUT (policy ACCEPT 100 packets, 9000 bytes)
    pkts      bytes target     prot opt in     out     source               destination
     600    50000 TF-3       0    --  *      *       0.0.0.0/0            10.0.0.2
     400    30000 TF-3       0    --  *      *       0.0.0.0/0            10.0.0.3
      12     1000 TF-4       0    --  *      *       0.0.0.0/0            10.0.0.3

Chain TF-3 (2 references)
    pkts      bytes target     prot opt in     out     source               destination
      50     4000 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0            statistic mode random probability 0.05000000000
     950    76000 NFQUEUE    0    --  *      *       0.0.0.0/0            0.0.0.0/0            NFQUEUE num 3 bypass
";
        assert_eq!(
            counters(3, listing),
            Counters {
                packets: 1000,
                dropped: 50,
                duplicated: 0,
                delayed: 950
            }
        );
    }
}
