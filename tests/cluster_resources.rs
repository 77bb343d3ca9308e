//! What a cluster's processes read and hold: an object-store lake read with
//! each process's own credentials, a scheduler or executors that cannot
//! read it, and executors under a memory limit. Real processes on
//! loopback (tests/cluster.rs starts them), moto as the S3 server.

use std::process::Command;

use crate::cluster::{Processes, local_run, sql_output, start_processes, start_processes_with_env};
use crate::fixtures::small_lake_str;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_lake_is_read_by_executors_with_their_own_credentials() {
    let moto = s3_lake().await;
    let local_lake = small_lake_str();
    let env = moto.env();
    let Processes {
        scheduler_addr,
        scheduler: _scheduler,
        executors: _executors,
    } = start_processes_with_env("30", "5", &[], &env, &env);
    // A partitioned table joined to another (a shuffle), and a table function.
    let sql = "SELECT c.acquisition_channel, count(*) AS n, sum(o.amount) AS s, (SELECT count(*) FROM rfm('orders', 'customer_id', 'order_ts', 'amount')) AS r FROM orders o JOIN customers c USING (customer_id) GROUP BY 1 ORDER BY 1";
    let (common, local) = local_run(&local_lake, sql);
    let mut args = common.to_vec();
    args[1] = "s3://acme/lake";
    let cluster_url = format!("df://{scheduler_addr}");
    args.extend(["--cluster", &cluster_url]);
    let remote = Command::new(env!("CARGO_BIN_EXE_microseg"))
        .arg("sql")
        .args(&args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env_remove("MICROSEG_CLUSTER")
        .output()
        .unwrap();
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&remote.stdout),
        String::from_utf8_lossy(&local.stdout)
    );
}

/// The small lake at `s3://acme/lake` in a moto of its own.
async fn s3_lake() -> crate::support::moto::Moto {
    let moto = crate::support::moto::Moto::start();
    moto.create_bucket("acme");
    let files: Vec<(String, Vec<u8>)> = crate::jobs::all_files(crate::fixtures::small_lake())
        .into_iter()
        .map(|(p, b)| (format!("lake/{p}"), b))
        .collect();
    crate::lake::upload(&moto, "acme", files).await;
    moto
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_cannot_read_the_lake_fails_the_query_naming_it() {
    let moto = s3_lake().await;
    // Another S3 endpoint, one without the lake's bucket: the client
    // plans on the lake, the scheduler (which lists the tables' files when
    // it plans the job) or the executors (which read them) cannot.
    let elsewhere = crate::support::moto::Moto::start();
    let (good, bad) = (moto.env(), elsewhere.env());
    for (who, scheduler_env, executor_env) in
        [("scheduler", &bad, &good), ("executors", &good, &bad)]
    {
        let Processes {
            scheduler_addr,
            scheduler: _scheduler,
            executors: _executors,
        } = start_processes_with_env("30", "5", &[], scheduler_env, executor_env);
        let cluster_url = format!("df://{scheduler_addr}");
        let remote = Command::new(env!("CARGO_BIN_EXE_microseg"))
            .args(["sql", "--lake", "s3://acme/lake", "--cluster", &cluster_url])
            .args(["-q", "-c", "SELECT count(*), sum(amount) FROM orders"])
            .envs(good.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("MICROSEG_CLUSTER")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&remote.stderr);
        assert!(
            !remote.status.success(),
            "{who}: the query answered: {}",
            String::from_utf8_lossy(&remote.stdout)
        );
        assert!(
            stderr.contains("acme")
                && (stderr.contains("lake/orders/") || stderr.contains("lake%2Forders%2F")),
            "{who}: the error does not name what could not be read:\n{stderr}"
        );
    }
}

#[test]
fn executors_under_a_small_memory_limit_spill_or_refuse_and_stay_up() {
    let lake = crate::fixtures::medium_lake()
        .to_string_lossy()
        .into_owned();
    let work = tempfile::tempdir().unwrap();
    let work_dir = work.path().to_string_lossy().into_owned();
    // 48 MiB per executor, 24 MiB per task slot (a sort keeps 10 MiB back
    // to merge its spills): below what the queries below hold.
    let Processes {
        scheduler_addr,
        scheduler: _scheduler,
        mut executors,
    } = start_processes(
        "20",
        "5",
        &["--memory-limit", "48MiB", "--work-dir", &work_dir],
    );
    let cluster_url = format!("df://{scheduler_addr}");
    // A global sort (row_number over every event) spills to the work
    // directory and gives the local answer (rows tied on the sort key have
    // the same customer, so the checksum does not depend on their order).
    let sorted = "SELECT count(*) AS n, sum(rn * customer_id) AS checksum FROM (\
        SELECT customer_id, row_number() OVER (ORDER BY event_ts, customer_id, event_type) AS rn \
        FROM events)";
    let (common, local) = local_run(&lake, sorted);
    let mut args = common.to_vec();
    args.extend(["--cluster", cluster_url.as_str()]);
    let remote = sql_output(&args);
    assert!(
        remote.status.success(),
        "the sort did not spill: {}",
        String::from_utf8_lossy(&remote.stderr)
    );
    assert_eq!(remote.stdout, local.stdout);
    // A hash join's build side cannot spill: the query is refused, naming
    // the pool, and no executor is killed.
    // Both sides carry their text columns through the join, so each
    // partition's build side is several times the pool whatever the
    // partitioning.
    let join = "SELECT count(*), sum(length(a.category || a.device || a.channel || coalesce(a.sku, '') \
        || coalesce(a.search_query, '') || coalesce(a.campaign_id, '') || b.category || b.device || b.channel \
        || coalesce(b.sku, '') || coalesce(b.search_query, '') || coalesce(b.campaign_id, ''))) \
        FROM events a JOIN events b ON a.customer_id = b.customer_id AND a.event_type = b.event_type";
    let mut args = common.to_vec();
    args[8] = join;
    args.extend(["--cluster", cluster_url.as_str()]);
    let refused = sql_output(&args);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "the join answered under 48 MiB");
    // Ballista passes the executor's error on in its Debug form.
    assert!(
        err.contains("Resources exhausted") || err.contains("ResourcesExhausted"),
        "{err}"
    );
    for (executor, bind) in &mut executors {
        assert!(
            executor.0.try_wait().unwrap().is_none(),
            "executor {bind} exited"
        );
    }
    let again = sql_output(&[
        "--lake",
        &lake,
        "-q",
        "-c",
        "SELECT count(*) FROM customers",
        "--cluster",
        &cluster_url,
    ]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
