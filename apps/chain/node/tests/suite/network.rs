//! Three real node processes: they fork and converge, agree on final blocks,
//! include a transfer, answer bad input with 4xx, and a killed node restarted
//! on its data catches up from its peers.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chain_node::block::Block;
use chain_node::crypto::{Hash32, Keypair};
use chain_node::service::NodeInfo;
use chain_node::tx::{OutPoint, Output, Transaction};

struct Node {
    name: String,
    addr: String,
    args: Vec<String>,
    child: Option<Child>,
}

impl Node {
    fn start(&mut self) {
        let log = std::fs::File::create(format!("{}.log", self.args[self.args.len() - 1])).unwrap();
        self.child = Some(
            Command::new(env!("CARGO_BIN_EXE_chain-node"))
                .args(&self.args)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cluster(dir: &Path) -> Vec<Node> {
    let addrs: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    (0..3)
        .map(|i| {
            let mut args = vec![
                "--name".to_owned(),
                format!("node-{i}"),
                "--addr".into(),
                addrs[i].clone(),
            ];
            for peer in addrs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, peer)| peer)
            {
                args.extend(["--peer".to_owned(), peer.clone()]);
            }
            args.extend(["--slot-ms", "100", "--coefficient", "0.7", "--k", "5"].map(String::from));
            args.extend([
                "--data-dir".to_owned(),
                dir.join(format!("node-{i}")).display().to_string(),
            ]);
            Node {
                name: format!("node-{i}"),
                addr: addrs[i].clone(),
                args,
                child: None,
            }
        })
        .collect()
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(1))
        .no_proxy()
        .build()
        .unwrap()
}

fn info(node: &Node) -> Option<NodeInfo> {
    http()
        .get(format!("http://{}/info", node.addr))
        .send()
        .ok()?
        .json()
        .ok()
}

/// Polls until `done` holds of every node's info, or fails after `limit`.
fn until(
    nodes: &[Node],
    limit: Duration,
    what: &str,
    done: impl Fn(&[NodeInfo]) -> bool,
) -> Vec<NodeInfo> {
    let deadline = Instant::now() + limit;
    loop {
        let infos: Vec<NodeInfo> = nodes.iter().filter_map(info).collect();
        if infos.len() == nodes.len() && done(&infos) {
            return infos;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {limit:?}; last seen: {infos:#?}"
        );
        // Node state is polled over HTTP, bounded by the deadline above.
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn block(node: &Node, id: Hash32) -> Block {
    http()
        .get(format!("http://{}/blocks/{id}", node.addr))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn nodes_fork_converge_finalize_alike_and_a_restarted_node_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path());
    for node in &mut nodes {
        node.start();
    }
    // Progress, forks, and one final block for all.
    let infos = until(
        &nodes,
        Duration::from_secs(30),
        "every node at height 20 with the same final block",
        |infos| {
            infos.iter().all(|i| i.height >= 20)
                && infos.windows(2).all(|w| w[0].final_id == w[1].final_id)
        },
    );
    assert!(
        infos.iter().any(|i| i.blocks > i.height as usize + 1),
        "no fork happened: {infos:#?}"
    );

    // A transfer from wallet-0 is included.
    let wallet0 = Keypair::named("wallet-0");
    let coin = OutPoint {
        tx: Hash32::of(b"genesis"),
        index: 0,
    };
    let pay = Transaction::signed(
        vec![coin],
        vec![Output {
            owner: Keypair::named("wallet-1").address(),
            amount: 1_000,
        }],
        &[&wallet0],
    );
    let submitted = http()
        .post(format!("http://{}/txs", nodes[0].addr))
        .json(&pay)
        .send()
        .unwrap();
    assert_eq!(submitted.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    'included: loop {
        let tip = info(&nodes[1]).unwrap().tip;
        let mut id = tip;
        for _ in 0..30 {
            let b = block(&nodes[1], id);
            if b.txs.iter().any(|t| t.id() == pay.id()) {
                break 'included;
            }
            if b.header.height == 0 {
                break;
            }
            id = b.header.parent;
        }
        assert!(Instant::now() < deadline, "the transfer was not included");
        // The chain is polled over HTTP, bounded by the deadline above.
        std::thread::sleep(Duration::from_millis(200));
    }
    // Spending it again is refused with the reason.
    let again = http()
        .post(format!("http://{}/txs", nodes[2].addr))
        .json(&pay)
        .send()
        .unwrap();
    assert_eq!(again.status(), 400);
    assert!(again.text().unwrap().contains("double spend"));

    // Bad input gets a 4xx with a JSON message.
    let garbage = http()
        .post(format!("http://{}/blocks", nodes[0].addr))
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(garbage.status(), 400);
    assert!(garbage.text().unwrap().contains("malformed block"));
    assert_eq!(
        http()
            .get(format!("http://{}/blocks/zz", nodes[0].addr))
            .send()
            .unwrap()
            .status(),
        400
    );

    // Kill node-2, let the others go on, restart it on its data: it catches up.
    let before = info(&nodes[2]).unwrap();
    nodes[2].kill();
    let others = until(
        &nodes[..2],
        Duration::from_secs(30),
        "the others to go on",
        |infos| infos.iter().all(|i| i.height >= before.height + 10),
    );
    nodes[2].start();
    let log = dir
        .path()
        .join(format!("{}.log", nodes[2].args.last().unwrap()));
    let caught_up = until(
        &nodes,
        Duration::from_secs(30),
        &format!("{} to catch up", nodes[2].name),
        |infos| infos[2].height >= others[0].height && infos[2].final_height >= before.final_height,
    );
    assert!(caught_up[2].height > before.height);
    // It restarted from its own data, not from genesis.
    let restarted_log = std::fs::read_to_string(log).unwrap();
    let loaded: u64 = restarted_log
        .lines()
        .find(|l| l.contains("chain loaded"))
        .and_then(|l| {
            l.split("height=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no `chain loaded` line in:\n{restarted_log}"));
    assert!(
        loaded >= before.final_height,
        "restarted at height {loaded}, had {}",
        before.height
    );
}
