// Messages every runbook handles; clients import these definitions, never string names.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Approval, ApprovalRequest, RunbookProgress } from './report';

export const progressQuery = defineQuery<RunbookProgress>('progress');
export const approveUpdate = defineUpdate<Approval, [ApprovalRequest]>('approve');
