# edgecoap: a callgrind profile of the POST load, its commits counted apart
# from its reports (bench/profile post). Input: callgrind.out; -v reports=N
# (the reports answered), -v total=IR (the serve loop's instructions).
# Names are compressed: "(id) name" the first time, in an fn= or a
# cfn= line, "(id)" after.
/^fn=/ {
  s = substr($0, 4)
  if (match(s, /^\([0-9]+\) /)) name[substr(s, 1, RLENGTH - 1)] = substr(s, RLENGTH + 1)
  next
}
/^cfn=/ {
  s = substr($0, 5)
  if (match(s, /^\([0-9]+\)/)) {
    cur = substr(s, RSTART, RLENGTH)
    rest = substr(s, RLENGTH + 2)
    if (rest != "") name[cur] = rest
  } else cur = s
  next
}
/^calls=/ {
  split($1, a, "="); k = a[2]
  getline
  calls[cur] += k; cost[cur] += $2
  next
}
END {
  for (id in calls) { c[name[id]] += calls[id]; x[name[id]] += cost[id] }
  commits = c["store_step_done"] / 2
  if (commits < 1 || reports < 1) { print "== no commits found in the profile"; exit }
  # A commit: its BEGIN and COMMIT (store_step_done; a checkpoint now and
  # then) and the roll-ups' times (store_fleet_flush). Of that, writing the
  # WAL's frames (sqlite3WalFrames: a checksum of every 4 KiB page and its
  # write) grows with the pages its reports dirtied; the rest is the
  # commit's own, whatever its size.
  all = x["store_step_done"] + x["store_fleet_flush"]
  frames = x["sqlite3WalFrames"]
  fixed = (all - frames) / commits
  outside = (total - all) / reports
  printf "== %d reports in %d commits (%.1f a commit)\n", reports, commits, reports / commits
  printf "==   a report: %d instructions outside its commit, %d writing its WAL frames\n", outside, frames / reports
  printf "==   a commit: %d besides its frames (BEGIN, COMMIT, the sync, the roll-ups)\n", fixed
  printf "== per report at 4 reports a commit: %d (its frames as this run's batches\n", outside + frames / reports + fixed / 4
  printf "   made them: how the load's timing under valgrind batches the reports\n"
  printf "   changes from run to run, and reports of larger batches share pages;\n"
  printf "   the figure outside the commit does not move with them)\n"
}
