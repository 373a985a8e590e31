//! The hotline's knowledge base (知识库): answers operators read out so that a consultation is
//! answered and closed on the call. Search scores articles by the character pairs they share
//! with the question (title and keywords count double), which finds Chinese phrasing without a
//! word segmenter and tolerates word order.

use serde::Serialize;

use super::similar::{Pairs, pairs};

use crate::store::Store;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Article {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub category_code: Option<String>,
    pub keywords: String,
}

fn score(question: &Pairs, article: &Article) -> usize {
    let heading = pairs(&format!("{} {}", article.title, article.keywords));
    let body = pairs(&article.body);
    question.iter().map(|p| 2 * usize::from(heading.contains(p)) + usize::from(body.contains(p))).sum()
}

/// The best articles for a question, best first; none when nothing matches.
pub async fn search(store: &Store, question: &str, limit: usize) -> Result<Vec<Article>, sqlx::Error> {
    let rows: Vec<(i64, String, String, Option<String>, String)> =
        sqlx::query_as("SELECT id, title, body, category_code, keywords FROM knowledge_articles ORDER BY id")
            .fetch_all(store.pool())
            .await?;
    let question = pairs(question);
    let mut scored: Vec<(usize, Article)> = rows
        .into_iter()
        .map(|(id, title, body, category_code, keywords)| Article { id, title, body, category_code, keywords })
        .map(|a| (score(&question, &a), a))
        .filter(|(s, _)| *s >= 2)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
    Ok(scored.into_iter().take(limit).map(|(_, a)| a).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_pairs_rank_the_right_article_first() {
        let card = Article {
            id: 1,
            title: "社保卡丢失如何补办".into(),
            body: "可在网点补办".into(),
            category_code: None,
            keywords: "社保卡 补办".into(),
        };
        let school = Article {
            id: 2,
            title: "积分入学咨询".into(),
            body: "公办学位".into(),
            category_code: None,
            keywords: "入学 学位".into(),
        };
        let q = pairs("我的社保卡掉了怎么补");
        assert!(score(&q, &card) > score(&q, &school));
        assert_eq!(score(&pairs("天气"), &school), 0);
    }
}
