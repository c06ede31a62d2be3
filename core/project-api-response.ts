/**
 * A project as seed 000's API returns it: the shape of each entry of the stack output `projects`,
 * which `pgfleet status` and `npm start` read back. `connection_string` holds the project role's
 * password, so the whole entry is a secret.
 */
export interface ProjectApiResponse {
  id: number;
  ref: string;
  name: string;
  database_name: string;
  connection_string: string;
  status: string;
  region: string;
  inserted_at: string;
}
