/**
 * Two project databases cloned from the app's template, row-level security on their tables and a
 * nightly backup of both, declared with pgfleet as an installed package.
 *
 * Config (`pulumi config set …`):
 *   adminUrl    (secret) the server's admin URL, postgres://user:password@host:port/postgres;
 *               without it, the PGFLEET_ADMIN_URL environment variable
 *   template    the template database holding the app's schema (tables `profiles` and `posts`)
 *   backupDir   the folder the backup runner writes dumps to
 */
import * as pulumi from "@pulumi/pulumi";
import { BackupSchedule, ProjectDatabase, RlsPolicySet, parseServerUrl, rls } from "pgfleet";

const config = new pulumi.Config();
const adminUrl = config.getSecret("adminUrl") ?? pulumi.secret(process.env.PGFLEET_ADMIN_URL ?? "");
const server = adminUrl.apply((url) => {
  if (url === "") throw new Error("no admin URL: pulumi config set --secret adminUrl postgres://…");
  return parseServerUrl(url);
});
const template = config.require("template");

const projects = ["shop", "blog"].map((name) => {
  const project = new ProjectDatabase(name, {
    displayName: name,
    server,
    template,
    // `pulumi destroy` drops the databases (the default, "retain", keeps them on the server).
    deletionPolicy: "drop",
  });
  new RlsPolicySet(`${name}-rls`, {
    database: project,
    tables: {
      // Each user sees and changes only their own profile.
      profiles: { policies: rls.ownRowsOnly({ column: "user_id" }) },
      // Everyone reads posts; signed-in users write their own.
      posts: { policies: rls.publicReadAuthenticatedWrite({ ownerColumn: "author_id" }) },
    },
  });
  return project;
});

const backups = new BackupSchedule("nightly", {
  databases: projects,
  destination: config.require("backupDir"),
  schedule: "0 3 * * *",
  retention: { daily: 7, weekly: 4 },
});

export const databases = projects.map((p) => p.databaseName);
export const connectionStrings = projects.map((p) => p.connectionString);
export const nextBackups = backups.nextRuns;
